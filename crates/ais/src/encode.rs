//! The encoder: messages of types 1/2/3, 5, 18 and 24 to complete `!AIVDM` sentences, split into
//! fragments when needed, optionally behind an NMEA 4 tag block (`c:` Unix time, `s:` source, and
//! `g:` grouping for multipart messages).
//!
//! ```
//! use ais::encode::{encode, EncodeOptions, TagBlockOptions};
//! use ais::{Decoder, Message, Mmsi, PositionReport};
//!
//! let report = PositionReport::class_a(Mmsi(366_053_209), 37.8, -122.4);
//! let opts = EncodeOptions::default().tag_block(TagBlockOptions::new().time(1_700_000_000).source("sim1"));
//! let lines = encode(&Message::Position(report.clone()), &opts).unwrap();
//! let mut decoder = Decoder::new();
//! let (meta, msg) = decoder.decode_line(lines[0].as_bytes()).unwrap();
//! assert_eq!(meta.tag_time_ms, Some(1_700_000_000_000));
//! assert_eq!(msg.unwrap(), Message::Position(report));
//! ```
//!
//! The encoder allocates freely: it serves simulators and tests, not the hot path.

use core::fmt::Write as _;

use crate::bits::armor;
use crate::message::{Dimensions, PositionReport, StaticPart};
use crate::nmea::xor_checksum;
use crate::text::sixbit_of;
use crate::{EncodeError, Message};

/// Payload characters per sentence when splitting (keeps sentences within NMEA's 82 characters).
pub const MAX_CHARS_PER_SENTENCE: usize = 60;

/// Tag block to put before each sentence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagBlockOptions {
    /// Receiver time, Unix seconds (`c:`).
    pub unix_time: Option<i64>,
    /// Source station (`s:`).
    pub source: Option<String>,
    /// Group id for multipart messages (`g:n-m-id`); defaults to 1 when the message is multipart.
    pub group_id: Option<u32>,
}

impl TagBlockOptions {
    /// Empty tag block options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `c:` time in Unix seconds.
    pub fn time(mut self, unix_seconds: i64) -> Self {
        self.unix_time = Some(unix_seconds);
        self
    }

    /// Sets the `s:` source.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the `g:` group id used for multipart messages.
    pub fn group_id(mut self, id: u32) -> Self {
        self.group_id = Some(id);
        self
    }
}

/// How to frame encoded messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodeOptions {
    /// Two-character talker (default `AI`).
    pub talker: String,
    /// Radio channel (default `A`); `None` leaves the field empty.
    pub channel: Option<char>,
    /// Sequential message id 0..=9 used for multipart messages (default 0).
    pub seq_id: u8,
    /// Own-vessel `VDO` instead of `VDM`.
    pub own_vessel: bool,
    /// Optional tag block.
    pub tag_block: Option<TagBlockOptions>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            talker: "AI".to_owned(),
            channel: Some('A'),
            seq_id: 0,
            own_vessel: false,
            tag_block: None,
        }
    }
}

impl EncodeOptions {
    /// Sets the talker.
    pub fn talker(mut self, talker: impl Into<String>) -> Self {
        self.talker = talker.into();
        self
    }

    /// Sets the channel.
    pub fn channel(mut self, channel: Option<char>) -> Self {
        self.channel = channel;
        self
    }

    /// Sets the sequential message id (taken modulo 10).
    pub fn seq_id(mut self, seq_id: u8) -> Self {
        self.seq_id = seq_id % 10;
        self
    }

    /// Sets the tag block.
    pub fn tag_block(mut self, tag: TagBlockOptions) -> Self {
        self.tag_block = Some(tag);
        self
    }
}

/// Bit accumulator for building payloads.
#[derive(Default)]
struct BitWriter {
    bits: Vec<bool>,
}

impl BitWriter {
    fn put(&mut self, value: u64, width: u32) {
        for i in (0..width).rev() {
            self.bits.push((value.checked_shr(i).unwrap_or(0)) & 1 == 1);
        }
    }

    fn put_i(&mut self, value: i64, width: u32) {
        let mask = 1u64
            .checked_shl(width)
            .map_or(u64::MAX, |m| m.wrapping_sub(1));
        self.put(u64::from_ne_bytes(value.to_ne_bytes()) & mask, width);
    }

    fn flag(&mut self, b: bool) {
        self.bits.push(b);
    }

    fn text(&mut self, field: &'static str, text: &str, n_chars: usize) -> Result<(), EncodeError> {
        let mut n = 0usize;
        for ch in text.chars() {
            let v = u8::try_from(u32::from(ch))
                .ok()
                .and_then(sixbit_of)
                .ok_or(EncodeError::BadChar { field, ch })?;
            if n >= n_chars {
                return Err(EncodeError::OutOfRange {
                    field,
                    value: len_f64(text.chars().count()),
                });
            }
            self.put(u64::from(v), 6);
            n = n.saturating_add(1);
        }
        for _ in n..n_chars {
            self.put(0, 6); // '@' padding
        }
        Ok(())
    }

    /// Armoured payload and fill bit count.
    fn finish(self) -> (String, u8) {
        let fill = (6usize.wrapping_sub(self.bits.len() % 6)) % 6;
        let mut out = String::with_capacity(self.bits.len().div_ceil(6));
        for chunk in self.bits.chunks(6) {
            let mut v = 0u8;
            for i in 0..6 {
                v = (v << 1) | u8::from(chunk.get(i).copied().unwrap_or(false));
            }
            out.push(char::from(armor(v)));
        }
        (out, u8::try_from(fill).unwrap_or(0))
    }
}

fn scaled(
    field: &'static str,
    value: f64,
    scale: f64,
    min: f64,
    max: f64,
) -> Result<i64, EncodeError> {
    if !value.is_finite() || value < min || value > max {
        return Err(EncodeError::OutOfRange { field, value });
    }
    #[allow(clippy::cast_possible_truncation, clippy::as_conversions)] // range-checked just above
    Ok((value * scale).round() as i64)
}

fn put_lon_lat(
    w: &mut BitWriter,
    p_lon: Option<f64>,
    p_lat: Option<f64>,
) -> Result<(), EncodeError> {
    let lon = match p_lon {
        Some(v) => scaled("lon", v, 600_000.0, -180.0, 180.0)?,
        None => 181 * 600_000,
    };
    let lat = match p_lat {
        Some(v) => scaled("lat", v, 600_000.0, -90.0, 90.0)?,
        None => 91 * 600_000,
    };
    w.put_i(lon, 28);
    w.put_i(lat, 27);
    Ok(())
}

fn put_speed(w: &mut BitWriter, p: &PositionReport) -> Result<(), EncodeError> {
    let sog = match p.speed {
        Some(v) => scaled("speed", f64::from(v), 10.0, 0.0, 102.2)?,
        None => 1023,
    };
    w.put(u64::try_from(sog).unwrap_or(1023), 10);
    Ok(())
}

fn put_dims(w: &mut BitWriter, d: &Dimensions) -> Result<(), EncodeError> {
    if d.to_bow > 511 || d.to_stern > 511 || d.to_port > 63 || d.to_starboard > 63 {
        return Err(EncodeError::OutOfRange {
            field: "dimensions",
            value: f64::from(d.to_bow.max(d.to_stern)),
        });
    }
    w.put(u64::from(d.to_bow), 9);
    w.put(u64::from(d.to_stern), 9);
    w.put(u64::from(d.to_port), 6);
    w.put(u64::from(d.to_starboard), 6);
    Ok(())
}

fn check_u(field: &'static str, value: u64, width: u32) -> Result<u64, EncodeError> {
    if value >> width != 0 {
        #[allow(clippy::cast_precision_loss, clippy::as_conversions)] // only for the message
        return Err(EncodeError::OutOfRange {
            field,
            value: value as f64,
        });
    }
    Ok(value)
}

fn course_raw(course: Option<f32>) -> Result<u64, EncodeError> {
    match course {
        Some(v) if f64::from(v) < 360.0 => {
            Ok(u64::try_from(scaled("course", f64::from(v), 10.0, 0.0, 359.9)?).unwrap_or(3600))
        }
        Some(v) => Err(EncodeError::OutOfRange {
            field: "course",
            value: f64::from(v),
        }),
        None => Ok(3600),
    }
}

fn heading_raw(heading: Option<u16>) -> Result<u64, EncodeError> {
    match heading {
        Some(h) if h < 360 => Ok(u64::from(h)),
        Some(h) => Err(EncodeError::OutOfRange {
            field: "heading",
            value: f64::from(h),
        }),
        None => Ok(511),
    }
}

fn second_raw(second: Option<u8>) -> Result<u64, EncodeError> {
    match second {
        Some(s) if s < 60 => Ok(u64::from(s)),
        Some(s) => Err(EncodeError::OutOfRange {
            field: "second",
            value: f64::from(s),
        }),
        None => Ok(60),
    }
}

/// Encodes the binary payload of a message: armoured characters and the fill-bit count.
pub fn encode_payload(msg: &Message) -> Result<(String, u8), EncodeError> {
    let mut w = BitWriter::default();
    match msg {
        Message::Position(p) if matches!(p.msg_type, 1..=3) => {
            w.put(u64::from(p.msg_type), 6);
            w.put(check_u("repeat", u64::from(p.repeat), 2)?, 2);
            w.put(check_u("mmsi", u64::from(p.mmsi.0), 30)?, 30);
            w.put(check_u("status", u64::from(p.status.unwrap_or(15)), 4)?, 4);
            w.put_i(i64::from(p.turn.unwrap_or(i8::MIN)), 8);
            put_speed(&mut w, p)?;
            w.flag(p.accuracy);
            put_lon_lat(&mut w, p.lon, p.lat)?;
            w.put(course_raw(p.course)?, 12);
            w.put(heading_raw(p.heading)?, 9);
            w.put(second_raw(p.second)?, 6);
            w.put(
                check_u("maneuver", u64::from(p.maneuver.unwrap_or(0)), 2)?,
                2,
            );
            w.put(0, 3);
            w.flag(p.raim);
            w.put(check_u("radio", u64::from(p.radio), 19)?, 19);
        }
        Message::Position(p) if p.msg_type == 18 => {
            let flags = p.class_b.unwrap_or_default();
            w.put(18, 6);
            w.put(check_u("repeat", u64::from(p.repeat), 2)?, 2);
            w.put(check_u("mmsi", u64::from(p.mmsi.0), 30)?, 30);
            w.put(0, 8);
            put_speed(&mut w, p)?;
            w.flag(p.accuracy);
            put_lon_lat(&mut w, p.lon, p.lat)?;
            w.put(course_raw(p.course)?, 12);
            w.put(heading_raw(p.heading)?, 9);
            w.put(second_raw(p.second)?, 6);
            w.put(0, 2);
            for f in [
                flags.cs,
                flags.display,
                flags.dsc,
                flags.band,
                flags.msg22,
                flags.assigned,
                p.raim,
            ] {
                w.flag(f);
            }
            w.put(check_u("radio", u64::from(p.radio), 20)?, 20);
        }
        Message::StaticVoyage(s) => {
            w.put(5, 6);
            w.put(check_u("repeat", u64::from(s.repeat), 2)?, 2);
            w.put(check_u("mmsi", u64::from(s.mmsi.0), 30)?, 30);
            w.put(check_u("ais_version", u64::from(s.ais_version), 2)?, 2);
            w.put(check_u("imo", u64::from(s.imo), 30)?, 30);
            w.text("callsign", s.callsign.as_str(), 7)?;
            w.text("shipname", s.shipname.as_str(), 20)?;
            w.put(u64::from(s.shiptype), 8);
            put_dims(&mut w, &s.dimensions)?;
            w.put(check_u("epfd", u64::from(s.epfd), 4)?, 4);
            w.put(check_u("eta month", u64::from(s.eta.month), 4)?, 4);
            w.put(check_u("eta day", u64::from(s.eta.day), 5)?, 5);
            w.put(check_u("eta hour", u64::from(s.eta.hour), 5)?, 5);
            w.put(check_u("eta minute", u64::from(s.eta.minute), 6)?, 6);
            let draught = scaled("draught", f64::from(s.draught), 10.0, 0.0, 25.5)?;
            w.put(u64::try_from(draught).unwrap_or(0), 8);
            w.text("destination", s.destination.as_str(), 20)?;
            w.flag(s.dte);
            w.put(0, 1);
        }
        Message::StaticDataReport(s) => {
            w.put(24, 6);
            w.put(check_u("repeat", u64::from(s.repeat), 2)?, 2);
            w.put(check_u("mmsi", u64::from(s.mmsi.0), 30)?, 30);
            match &s.part {
                StaticPart::A { shipname } => {
                    w.put(0, 2);
                    w.text("shipname", shipname.as_str(), 20)?;
                }
                StaticPart::B {
                    shiptype,
                    vendorid,
                    model,
                    serial,
                    callsign,
                    dimensions,
                    mothership,
                } => {
                    w.put(1, 2);
                    w.put(u64::from(*shiptype), 8);
                    w.text("vendorid", vendorid.as_str(), 3)?;
                    w.put(check_u("model", u64::from(*model), 4)?, 4);
                    w.put(check_u("serial", u64::from(*serial), 20)?, 20);
                    w.text("callsign", callsign.as_str(), 7)?;
                    match mothership {
                        Some(m) => w.put(check_u("mothership", u64::from(m.0), 30)?, 30),
                        None => put_dims(&mut w, dimensions)?,
                    }
                    w.put(0, 6);
                }
            }
        }
        other => {
            return Err(EncodeError::UnsupportedType {
                msg_type: other.msg_type(),
            });
        }
    }
    Ok(w.finish())
}

fn len_f64(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

fn valid_source(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= crate::nmea::MAX_SOURCE_LEN
        && s.bytes()
            .all(|b| (b.is_ascii_graphic() || b == b' ') && !matches!(b, b',' | b'*' | b'\\'))
}

/// Encodes a message into complete sentences (one per fragment), each ending without `\r\n`.
pub fn encode(msg: &Message, opts: &EncodeOptions) -> Result<Vec<String>, EncodeError> {
    let (payload, fill) = encode_payload(msg)?;
    frame(&payload, fill, opts)
}

/// Frames an armoured payload into sentences, splitting at [`MAX_CHARS_PER_SENTENCE`].
pub fn frame(
    payload: &str,
    fill_bits: u8,
    opts: &EncodeOptions,
) -> Result<Vec<String>, EncodeError> {
    if opts.talker.len() != 2
        || !opts
            .talker
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b',' && b != b'*')
    {
        return Err(EncodeError::BadTalker {
            talker: opts.talker.clone(),
        });
    }
    if let Some(src) = opts.tag_block.as_ref().and_then(|t| t.source.as_deref())
        && !valid_source(src)
    {
        return Err(EncodeError::BadSource {
            source_id: src.to_owned(),
        });
    }
    let chunks: Vec<&str> = if payload.is_empty() {
        vec![""]
    } else {
        payload
            .as_bytes()
            .chunks(MAX_CHARS_PER_SENTENCE)
            .map(|c| core::str::from_utf8(c).unwrap_or(""))
            .collect()
    };
    let count = chunks.len();
    if count > 9 {
        return Err(EncodeError::OutOfRange {
            field: "payload length",
            value: len_f64(payload.len()),
        });
    }
    let kind = if opts.own_vessel { "VDO" } else { "VDM" };
    let channel = opts.channel.map(String::from).unwrap_or_default();
    let seq = if count > 1 {
        (opts.seq_id % 10).to_string()
    } else {
        String::new()
    };
    let mut out = Vec::with_capacity(count);
    for (i, chunk) in chunks.iter().enumerate() {
        let number = i.saturating_add(1);
        let fill = if number == count { fill_bits } else { 0 };
        let body = format!(
            "{}{kind},{count},{number},{seq},{channel},{chunk},{fill}",
            opts.talker
        );
        let mut line = String::with_capacity(body.len().saturating_add(40));
        if let Some(tag) = &opts.tag_block {
            let mut fields: Vec<String> = Vec::new();
            if count > 1 {
                fields.push(format!("g:{number}-{count}-{}", tag.group_id.unwrap_or(1)));
            }
            if let Some(src) = &tag.source {
                fields.push(format!("s:{src}"));
            }
            if let Some(t) = tag.unix_time {
                fields.push(format!("c:{t}"));
            }
            if !fields.is_empty() {
                let inner = fields.join(",");
                let _ = write!(line, "\\{inner}*{:02X}\\", xor_checksum(inner.as_bytes()));
            }
        }
        let _ = write!(line, "!{body}*{:02X}", xor_checksum(body.as_bytes()));
        out.push(line);
    }
    Ok(out)
}

impl PositionReport {
    /// A Class A (type 1) report at a position with every other field "not available": a starting
    /// point for simulators, to adjust with struct update syntax.
    pub fn class_a(mmsi: crate::Mmsi, lat: f64, lon: f64) -> Self {
        Self {
            msg_type: 1,
            repeat: 0,
            mmsi,
            status: Some(15),
            turn: None,
            speed: None,
            accuracy: false,
            lon: Some(lon),
            lat: Some(lat),
            course: None,
            heading: None,
            second: None,
            maneuver: Some(0),
            raim: false,
            radio: 0,
            class_b: None,
            extended: None,
            gnss_latency: None,
        }
    }

    /// A Class B (type 18) report at a position with every other field "not available".
    pub fn class_b(mmsi: crate::Mmsi, lat: f64, lon: f64) -> Self {
        Self {
            msg_type: 18,
            status: None,
            maneuver: None,
            class_b: Some(crate::ClassBFlags::default()),
            ..Self::class_a(mmsi, lat, lon)
        }
    }
}
