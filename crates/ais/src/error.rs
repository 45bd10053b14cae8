//! Error types: [`DecodeError`] for input that could not be decoded, [`EncodeError`] for values the
//! encoder cannot represent.

/// Why an AIS sentence or message could not be decoded.
///
/// Every variant names the offending value and where it was: `offset` fields are byte offsets within
/// the line (tag block included); the line number and stream offset are in the accompanying
/// [`crate::SentenceMeta`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The sentence checksum does not match its content.
    #[error("checksum mismatch: sentence says {found:02X}, content gives {computed:02X}")]
    Checksum {
        /// Checksum written in the sentence.
        found: u8,
        /// Checksum computed over the content.
        computed: u8,
    },
    /// A sentence field is missing or malformed.
    #[error("malformed {field} field at byte {offset}")]
    BadField {
        /// Which field (`"fragment count"`, `"channel"`, `"checksum"`, ...).
        field: &'static str,
        /// Byte offset of the field in the line.
        offset: usize,
    },
    /// The line is longer than the decoder accepts.
    #[error("line of {len} bytes is longer than the {max}-byte limit")]
    LineTooLong {
        /// Length seen (at least).
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A payload character is outside the 6-bit armouring alphabet.
    #[error("invalid payload character 0x{byte:02X} at byte {offset}")]
    PayloadChar {
        /// The offending byte.
        byte: u8,
        /// Byte offset in the line.
        offset: usize,
    },
    /// The fill-bit count is not 0..=5 or exceeds the payload.
    #[error("invalid fill bit count {fill_bits}")]
    FillBits {
        /// The value found.
        fill_bits: u8,
    },
    /// The payload is empty.
    #[error("empty payload")]
    EmptyPayload,
    /// The (reassembled) payload is longer than any AIS message.
    #[error("payload of {chars} characters exceeds the {max}-character limit")]
    PayloadTooLong {
        /// Characters seen.
        chars: usize,
        /// Limit.
        max: usize,
    },
    /// The payload is too short for its message type.
    #[error("message type {msg_type} needs at least {needed} bits, payload has {bits}")]
    PayloadTooShort {
        /// Message type (0 when not even the type could be read).
        msg_type: u8,
        /// Bits available.
        bits: usize,
        /// Bits required.
        needed: usize,
    },
    /// A field inside the message payload has a value the standard does not allow.
    #[error("message type {msg_type}: invalid {field} value {value}")]
    BadValue {
        /// Message type.
        msg_type: u8,
        /// Field name.
        field: &'static str,
        /// Raw value.
        value: u32,
    },
    /// A fragment repeats one already pending for the same message.
    #[error("duplicate fragment {fragment} of {count}")]
    DuplicateFragment {
        /// Fragment number.
        fragment: u8,
        /// Fragment count.
        count: u8,
    },
}

impl DecodeError {
    /// True for errors in the sentence framing (checksum, fields), false for payload/message errors.
    pub fn is_framing(&self) -> bool {
        matches!(
            self,
            Self::Checksum { .. } | Self::BadField { .. } | Self::LineTooLong { .. }
        )
    }

    /// Short stable name for metrics labels and JSON (`"checksum"`, `"bad_field"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Checksum { .. } => "checksum",
            Self::BadField { .. } => "bad_field",
            Self::LineTooLong { .. } => "line_too_long",
            Self::PayloadChar { .. } => "payload_char",
            Self::FillBits { .. } => "fill_bits",
            Self::EmptyPayload => "empty_payload",
            Self::PayloadTooLong { .. } => "payload_too_long",
            Self::PayloadTooShort { .. } => "payload_too_short",
            Self::BadValue { .. } => "bad_value",
            Self::DuplicateFragment { .. } => "duplicate_fragment",
        }
    }
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoder does not support this message type.
    #[error("cannot encode message type {msg_type}: only 1, 2, 3, 5, 18 and 24 are supported")]
    UnsupportedType {
        /// The message type.
        msg_type: u8,
    },
    /// A value does not fit its field.
    #[error("{field} value {value} is out of range")]
    OutOfRange {
        /// Field name.
        field: &'static str,
        /// The value, printed.
        value: f64,
    },
    /// A text field contains a character AIS 6-bit text cannot carry.
    #[error("{field} contains {ch:?}, which AIS 6-bit text cannot carry")]
    BadChar {
        /// Field name.
        field: &'static str,
        /// The character.
        ch: char,
    },
    /// A tag-block source contains a character that would break the tag block.
    #[error("tag block source {source_id:?} must be printable ASCII without ',', '*' or '\\'")]
    BadSource {
        /// The source given.
        source_id: String,
    },
    /// The talker must be two printable ASCII characters.
    #[error("talker {talker:?} must be two printable ASCII characters")]
    BadTalker {
        /// The talker given.
        talker: String,
    },
}
