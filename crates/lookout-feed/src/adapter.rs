//! From `ais` messages to the tracker's [`Observation`]s.
//!
//! Event time is the receiver's: the tag block `c:` or the `$PGHP` time when the sentence has
//! one, else the ingest clock. Base stations (type 4) and aids to navigation (type 21) never
//! become observations; the caller counts them. Static data (types 5, 24A, 24B and the static
//! half of 19) becomes [`Report::Static`]; a type 19 yields both a position and static data.

use ais::{Dimensions, Message, PositionReport, SentenceMeta, StaticPart};
use jiff::Timestamp;
use lookout_core::{Observation, Position, Report, TransponderClass, VesselStatic};

/// What one decoded message becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Adapted {
    /// One observation (a position or static data).
    One(Observation),
    /// A type 19 extended Class B report: its position, then its static data.
    Two(Observation, Observation),
    /// A base station report (type 4): not a vessel.
    BaseStation,
    /// An aid to navigation (type 21): not a vessel.
    AidToNavigation,
    /// A message type the tracker has no use for.
    Skipped(u8),
}

/// The event time of a sentence: its receiver timestamp, else `ingest_now`.
pub fn event_time(meta: &SentenceMeta, ingest_now: Timestamp) -> Timestamp {
    meta.receiver_time_ms()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(ingest_now)
}

/// Converts one decoded message.
pub fn adapt(message: &Message, meta: &SentenceMeta, ingest_now: Timestamp) -> Adapted {
    let at = event_time(meta, ingest_now);
    let observation = |mmsi: u32, report: Report| Observation { mmsi, at, report };
    match message {
        Message::Position(p) => {
            let position = observation(p.mmsi.0, Report::Position(position_of(p)));
            match p.extended.as_ref() {
                Some(ext) => {
                    let statics = VesselStatic {
                        name: text(ext.shipname.as_str()),
                        ship_type: nonzero(ext.shiptype),
                        dimensions: dimensions(&ext.dimensions),
                        ..VesselStatic::default()
                    };
                    Adapted::Two(position, observation(p.mmsi.0, Report::Static(statics)))
                }
                None => Adapted::One(position),
            }
        }
        Message::StaticVoyage(s) => Adapted::One(observation(
            s.mmsi.0,
            Report::Static(VesselStatic {
                name: text(s.shipname.as_str()),
                callsign: text(s.callsign.as_str()),
                imo: (s.imo != 0).then_some(s.imo),
                ship_type: nonzero(s.shiptype),
                dimensions: dimensions(&s.dimensions),
                destination: text(s.destination.as_str()),
            }),
        )),
        Message::StaticDataReport(s) => {
            let statics = match &s.part {
                StaticPart::A { shipname } => VesselStatic {
                    name: text(shipname.as_str()),
                    ..VesselStatic::default()
                },
                StaticPart::B {
                    shiptype,
                    callsign,
                    dimensions: dims,
                    ..
                } => VesselStatic {
                    callsign: text(callsign.as_str()),
                    ship_type: nonzero(*shiptype),
                    dimensions: dimensions(dims),
                    ..VesselStatic::default()
                },
            };
            Adapted::One(observation(s.mmsi.0, Report::Static(statics)))
        }
        Message::BaseStation(_) => Adapted::BaseStation,
        Message::AidToNavigation(_) => Adapted::AidToNavigation,
        other => Adapted::Skipped(other.msg_type()),
    }
}

fn position_of(p: &PositionReport) -> Position {
    let class = match p.msg_type {
        18 | 19 => TransponderClass::B,
        27 => TransponderClass::LongRange,
        _ => TransponderClass::A,
    };
    Position {
        lat: p.lat,
        lon: p.lon,
        sog: p.speed,
        cog: p.course,
        heading: p.heading,
        class,
    }
}

/// AIS text with its `@` padding and spaces trimmed; `None` when nothing is left.
fn text(s: &str) -> Option<String> {
    let t = s.trim_end_matches(['@', ' ']).trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn nonzero(v: u8) -> Option<u8> {
    (v != 0).then_some(v)
}

fn dimensions(d: &Dimensions) -> Option<[u16; 4]> {
    let all = [
        d.to_bow,
        d.to_stern,
        u16::from(d.to_port),
        u16::from(d.to_starboard),
    ];
    (all != [0; 4]).then_some(all)
}
