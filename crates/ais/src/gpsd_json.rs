//! gpsd-compatible JSON: one object per message with gpsd's field names and scaling (`gpsdecode -j`,
//! scaled mode), so output can be compared with gpsd's directly.
//!
//! Differences from gpsd, by design: fields whose value is "not available" are omitted instead of
//! printing the sentinel (gpsd prints e.g. `"lat":91.000000`, `"heading":511`), and gpsd's
//! `device`, `*_text` legend fields and undecoded reserved fields are not written.
//!
//! ```
//! let mut decoder = ais::Decoder::new();
//! let (_, msg) = decoder.decode_line(b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F").unwrap();
//! let json = ais::gpsd_json::to_string(&msg.unwrap());
//! assert!(json.starts_with(r#"{"class":"AIS","type":1,"repeat":0,"mmsi":366053209,"scaled":true,"#));
//! ```

use core::fmt::{self, Write};

use crate::message::{Dimensions, StaticPart};
use crate::{DecodeError, DecodeStats, Message, SentenceMeta};

/// Navigational status legends, as gpsd prints them for type 27 in scaled mode.
const NAV_STATUS: [&str; 16] = [
    "Under way using engine",
    "At anchor",
    "Not under command",
    "Restricted manoeuverability",
    "Constrained by her draught",
    "Moored",
    "Aground",
    "Engaged in fishing",
    "Under way sailing",
    "Reserved for HSC",
    "Reserved for WIG",
    "Reserved",
    "Reserved",
    "Reserved",
    "Reserved",
    "Not defined",
];

/// Writes `s` as a JSON string literal.
fn json_str<W: Write>(out: &mut W, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for ch in s.chars() {
        match ch {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

struct Obj<'a, W: Write> {
    out: &'a mut W,
}

impl<W: Write> Obj<'_, W> {
    fn raw(&mut self, key: &str, value: fmt::Arguments<'_>) -> fmt::Result {
        write!(self.out, ",\"{key}\":{value}")
    }
    fn num<T: fmt::Display>(&mut self, key: &str, v: T) -> fmt::Result {
        self.raw(key, format_args!("{v}"))
    }
    fn opt<T: fmt::Display>(&mut self, key: &str, v: Option<T>) -> fmt::Result {
        match v {
            Some(v) => self.num(key, v),
            None => Ok(()),
        }
    }
    fn boolean(&mut self, key: &str, v: bool) -> fmt::Result {
        self.num(key, v)
    }
    fn deg(&mut self, key: &str, v: Option<f64>) -> fmt::Result {
        match v {
            Some(v) => self.raw(key, format_args!("{v:.6}")),
            None => Ok(()),
        }
    }
    fn tenth(&mut self, key: &str, v: Option<f32>) -> fmt::Result {
        match v {
            Some(v) => self.raw(key, format_args!("{v:.1}")),
            None => Ok(()),
        }
    }
    fn string(&mut self, key: &str, v: &str) -> fmt::Result {
        write!(self.out, ",\"{key}\":")?;
        json_str(self.out, v)
    }
    fn dims(&mut self, d: &Dimensions) -> fmt::Result {
        self.num("to_bow", d.to_bow)?;
        self.num("to_stern", d.to_stern)?;
        self.num("to_port", d.to_port)?;
        self.num("to_starboard", d.to_starboard)
    }
}

/// gpsd's scaled rate of turn: `"nan"` when not available, `"fastleft"`/`"fastright"` at ±127,
/// otherwise the ROT indicator converted to degrees per minute, `(turn / 4.733)²` with its sign.
pub fn turn_degrees_per_minute(turn: i8) -> f64 {
    let r = f64::from(turn) / 4.733;
    (r * r).copysign(r)
}

/// Writes one message as a gpsd-style JSON object (no trailing newline).
pub fn write_message<W: Write>(out: &mut W, msg: &Message) -> fmt::Result {
    write!(
        out,
        "{{\"class\":\"AIS\",\"type\":{},\"repeat\":{},\"mmsi\":{},\"scaled\":true",
        msg.msg_type(),
        msg.repeat(),
        msg.mmsi().0
    )?;
    let mut o = Obj { out };
    match msg {
        Message::Position(p) => match p.msg_type {
            27 => {
                if let Some(s) = p.status {
                    o.string(
                        "status",
                        NAV_STATUS
                            .get(usize::from(s))
                            .copied()
                            .unwrap_or("Reserved"),
                    )?;
                }
                o.boolean("accuracy", p.accuracy)?;
                o.deg("lon", p.lon)?;
                o.deg("lat", p.lat)?;
                o.opt("speed", p.speed)?;
                o.opt("course", p.course)?;
                o.boolean("raim", p.raim)?;
                o.boolean("gnss", p.gnss_latency.unwrap_or(false))?;
            }
            _ => {
                o.opt("status", p.status)?;
                if p.msg_type <= 3 {
                    match p.turn {
                        None => o.string("turn", "nan")?,
                        Some(-127) => o.string("turn", "fastleft")?,
                        Some(127) => o.string("turn", "fastright")?,
                        Some(t) => {
                            o.raw("turn", format_args!("{:.0}", turn_degrees_per_minute(t)))?
                        }
                    }
                }
                o.tenth("speed", p.speed)?;
                o.boolean("accuracy", p.accuracy)?;
                o.deg("lon", p.lon)?;
                o.deg("lat", p.lat)?;
                o.tenth("course", p.course)?;
                o.opt("heading", p.heading)?;
                o.opt("second", p.second)?;
                o.opt("maneuver", p.maneuver)?;
                if let Some(f) = &p.class_b {
                    o.boolean("cs", f.cs)?;
                    o.boolean("display", f.display)?;
                    o.boolean("dsc", f.dsc)?;
                    o.boolean("band", f.band)?;
                    o.boolean("msg22", f.msg22)?;
                }
                if let Some(x) = &p.extended {
                    o.string("shipname", x.shipname.as_str())?;
                    o.num("shiptype", x.shiptype)?;
                    o.dims(&x.dimensions)?;
                    o.num("epfd", x.epfd)?;
                }
                o.boolean("raim", p.raim)?;
                if let Some(x) = &p.extended {
                    o.num("dte", u8::from(x.dte))?;
                    o.boolean("assigned", x.assigned)?;
                } else {
                    o.num("radio", p.radio)?;
                }
            }
        },
        Message::BaseStation(b) => {
            o.raw(
                "timestamp",
                format_args!(
                    "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z\"",
                    b.year, b.month, b.day, b.hour, b.minute, b.second
                ),
            )?;
            o.boolean("accuracy", b.accuracy)?;
            o.deg("lon", b.lon)?;
            o.deg("lat", b.lat)?;
            o.num("epfd", b.epfd)?;
            o.boolean("raim", b.raim)?;
            o.num("radio", b.radio)?;
        }
        Message::StaticVoyage(s) => {
            o.num("imo", s.imo)?;
            o.num("ais_version", s.ais_version)?;
            o.string("callsign", s.callsign.as_str())?;
            o.string("shipname", s.shipname.as_str())?;
            o.num("shiptype", s.shiptype)?;
            o.dims(&s.dimensions)?;
            o.num("epfd", s.epfd)?;
            o.raw(
                "eta",
                format_args!(
                    "\"{:02}-{:02}T{:02}:{:02}Z\"",
                    s.eta.month, s.eta.day, s.eta.hour, s.eta.minute
                ),
            )?;
            o.raw("draught", format_args!("{:.1}", s.draught))?;
            o.string("destination", s.destination.as_str())?;
            o.num("dte", u8::from(s.dte))?;
        }
        Message::AidToNavigation(a) => {
            o.num("aid_type", a.aid_type)?;
            o.string("name", a.name.as_str())?;
            o.deg("lon", a.lon)?;
            o.deg("lat", a.lat)?;
            o.boolean("accuracy", a.accuracy)?;
            o.dims(&a.dimensions)?;
            o.num("epfd", a.epfd)?;
            o.opt("second", a.second)?;
            o.num("regional", a.regional)?;
            o.boolean("off_position", a.off_position)?;
            o.boolean("raim", a.raim)?;
            o.boolean("virtual_aid", a.virtual_aid)?;
        }
        Message::StaticDataReport(s) => match &s.part {
            StaticPart::A { shipname } => {
                o.string("part", "A")?;
                o.string("shipname", shipname.as_str())?;
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
                o.string("part", "B")?;
                o.num("shiptype", shiptype)?;
                o.string("vendorid", vendorid.as_str())?;
                o.num("model", model)?;
                o.num("serial", serial)?;
                o.string("callsign", callsign.as_str())?;
                match mothership {
                    Some(m) => o.num("mothership_mmsi", m.0)?,
                    None => o.dims(dimensions)?,
                }
            }
        },
        Message::Unsupported { .. } => {}
    }
    o.out.write_char('}')
}

/// Same as [`write_message`] (the name used in the `lookout decode` design).
pub fn write_gpsd_json<W: Write>(out: &mut W, msg: &Message) -> fmt::Result {
    write_message(out, msg)
}

/// One message as a gpsd-style JSON string.
pub fn to_string(msg: &Message) -> String {
    let mut s = String::with_capacity(256);
    // Writing to a String cannot fail.
    let _ = write_message(&mut s, msg);
    s
}

/// Writes one message as a JSON line (with `\n`) to an [`std::io::Write`].
pub fn write_message_io<W: std::io::Write>(
    out: &mut W,
    msg: &Message,
    buf: &mut String,
) -> std::io::Result<()> {
    buf.clear();
    let _ = write_message(buf, msg);
    buf.push('\n');
    out.write_all(buf.as_bytes())
}

/// Writes a decode error as `{"class":"ERROR","line":N,"offset":N,"kind":"...","error":"..."}`.
pub fn write_error<W: Write>(out: &mut W, meta: &SentenceMeta, err: &DecodeError) -> fmt::Result {
    write!(
        out,
        "{{\"class\":\"ERROR\",\"line\":{},\"offset\":{},\"kind\":",
        meta.line, meta.offset
    )?;
    json_str(out, err.kind())?;
    out.write_str(",\"error\":")?;
    json_str(out, &err.to_string())?;
    out.write_char('}')
}

/// A decode error as a JSON string (see [`write_error`]).
pub fn error_to_string(meta: &SentenceMeta, err: &DecodeError) -> String {
    let mut s = String::with_capacity(128);
    let _ = write_error(&mut s, meta, err);
    s
}

/// Writes the end-of-stream summary as `{"class":"SUMMARY",...}` with every counter.
pub fn write_summary<W: Write>(out: &mut W, stats: &DecodeStats) -> fmt::Result {
    write!(
        out,
        "{{\"class\":\"SUMMARY\",\"lines\":{},\"sentences\":{},\"messages\":{},\"unsupported\":{},\
         \"checksum_errors\":{},\"framing_errors\":{},\"payload_errors\":{},\"non_ais_skipped\":{},\
         \"pghp_lines\":{},\"tag_block_errors\":{},\"duplicate_fragments\":{},\"orphan_fragments\":{},\
         \"groups_evicted\":{},\"groups_expired\":{}}}",
        stats.lines,
        stats.sentences,
        stats.messages,
        stats.unsupported,
        stats.checksum_errors,
        stats.framing_errors,
        stats.payload_errors,
        stats.non_ais_skipped,
        stats.pghp_lines,
        stats.tag_block_errors,
        stats.duplicate_fragments,
        stats.orphan_fragments,
        stats.groups_evicted,
        stats.groups_expired,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AisString, Mmsi, StaticDataReport};

    #[test]
    fn escapes_strings_and_writes_parts() {
        let msg = Message::StaticDataReport(StaticDataReport {
            repeat: 0,
            mmsi: Mmsi(271_041_815),
            part: StaticPart::A {
                shipname: AisString::new("A\"B\\C").unwrap(),
            },
        });
        assert_eq!(
            to_string(&msg),
            r#"{"class":"AIS","type":24,"repeat":0,"mmsi":271041815,"scaled":true,"part":"A","shipname":"A\"B\\C"}"#
        );
    }

    #[test]
    fn error_and_summary_lines() {
        let meta = SentenceMeta {
            line: 7,
            offset: 120,
            ..SentenceMeta::default()
        };
        let err = DecodeError::Checksum {
            found: 0x10,
            computed: 0x2B,
        };
        assert_eq!(
            error_to_string(&meta, &err),
            r#"{"class":"ERROR","line":7,"offset":120,"kind":"checksum","error":"checksum mismatch: sentence says 10, content gives 2B"}"#
        );
        let mut s = String::new();
        write_summary(&mut s, &DecodeStats::default()).unwrap();
        assert!(s.starts_with(r#"{"class":"SUMMARY","lines":0,"#) && s.ends_with('}'));
    }

    #[test]
    fn signed_turn() {
        assert!((turn_degrees_per_minute(-10) + 4.464).abs() < 0.01);
        assert!((turn_degrees_per_minute(10) - 4.464).abs() < 0.01);
    }
}
