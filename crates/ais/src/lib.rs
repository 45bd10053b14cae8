//! AIS NMEA 0183 (AIVDM/AIVDO) decoder and encoder: no I/O, no panics.
//!
//! ```
//! use ais::{Decoder, Message};
//!
//! let mut decoder = Decoder::new();
//! let line = b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F";
//! let (meta, result) = decoder.decode_line(line).expect("an AIS sentence");
//! assert_eq!(meta.channel, Some(b'A'));
//! match result.expect("decodes") {
//!     Message::Position(p) => assert_eq!(p.mmsi.0, 366053209),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
//!
//! # Overview
//! - [`Decoder`]: streaming framing, tag blocks, `$PGHP` timestamps, checksum verification, multipart
//!   reassembly and payload decoding. Feed it lines ([`Decoder::decode_line`]) or arbitrary byte chunks
//!   ([`Decoder::feed`]); read a [`std::io::BufRead`] with [`read::Lines`].
//! - [`Message`]: the decoded message types (1/2/3/18/19/27 position, 4, 5, 21, 24A/B); any other type is
//!   [`Message::Unsupported`], which is not an error.
//! - [`DecodeError`]: what was wrong and where; [`DecodeStats`]: counters of everything skipped or dropped.
//! - [`Mmsi`]: MMSI classification (ship, base station, aid to navigation, SAR aircraft, invalid).
//! - [`encode`]: the encoder for types 1, 5, 18 and 24, with multipart splitting and tag blocks.
//!
//! # Features
//! | feature | default | what | cost |
//! |---|---|---|---|
//! | `json` | yes | [`gpsd_json`]: gpsd-compatible JSON lines | none (hand-written, no dependency) |
//!
//! # Guarantees
//! No input makes the decoder panic: the crate denies indexing, unchecked arithmetic, `unwrap` and
//! `panic!` through clippy lints, and `crates/ais/fuzz` fuzzes the whole path. After construction the
//! decoder allocates nothing per sentence: payloads are de-armoured into fixed buffers and text fields
//! are fixed-capacity [`AisString`]s.
#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::cast_possible_truncation,
    clippy::as_conversions
)]
#![cfg_attr(
    test,
    allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::as_conversions,
        clippy::cast_possible_truncation
    )
)]

mod bits;
mod decode;
mod decoder;
pub mod encode;
mod error;
pub mod framing;
#[cfg(feature = "json")]
pub mod gpsd_json;
mod message;
mod mmsi;
mod nmea;
pub mod read;
mod text;
mod time;

pub use decoder::{DecodeStats, Decoder, DecoderConfig, Feed, Item};
pub use error::{DecodeError, EncodeError};
pub use message::{
    AidToNavigation, BaseStationReport, ClassBFlags, Dimensions, Eta, ExtendedClassB, Message,
    PositionReport, StaticDataReport, StaticPart, StaticVoyage,
};
pub use mmsi::{Mmsi, MmsiKind};
pub use nmea::{SentenceMeta, SourceId, TagGroup};
pub use text::AisString;
