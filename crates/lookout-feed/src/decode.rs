//! A thin classification layer over `ais::Decoder::decode_line`, telling apart the lines that
//! yield nothing: a buffered multipart fragment versus a line that is not AIS at all.

use ais::{DecodeError, Decoder, Message, SentenceMeta};

/// What one line gave.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A complete message.
    Message(SentenceMeta, Message),
    /// A valid fragment of a multipart message, buffered until the rest arrives.
    Pending,
    /// Not an AIS sentence (blank, GNSS, `$PGHP` timestamp line, comment).
    Ignored,
    /// An AIS sentence that did not decode.
    Error(DecodeError),
}

/// Decodes one line with the connection's decoder.
pub(crate) fn decode_line(decoder: &mut Decoder, line: &[u8]) -> Decoded {
    let sentences_before = decoder.stats().sentences;
    match decoder.decode_line(line) {
        Some((meta, Ok(message))) => Decoded::Message(meta, message),
        Some((_, Err(err))) => Decoded::Error(err),
        None if decoder.stats().sentences > sentences_before => Decoded::Pending,
        None => Decoded::Ignored,
    }
}
