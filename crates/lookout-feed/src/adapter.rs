//! From `ais` messages to the tracker's [`Observation`]s.
//!
//! Event time is the receiver's: the tag block `c:` or the `$PGHP` time when the sentence has
//! one. [`EventClock`] applies the source's [`ClockMode`]: a `live` source bounds it against
//! ingest time (re-timed and counted as `clock_skew` beyond the allowed skew) and uses ingest
//! time when a line has none; a `data` source uses only the data's time (the last receiver
//! time seen for untagged lines, [`DATA_EPOCH`] before any). Base stations (type 4) and aids to navigation (type 21) never
//! become observations; the caller counts them. Static data (types 5, 24A, 24B and the static
//! half of 19) becomes [`Report::Static`]; a type 19 yields both a position and static data.

use ais::{Dimensions, Message, PositionReport, SentenceMeta, StaticPart};
use jiff::Timestamp;
use lookout_core::{ClockMode, Observation, Position, Report, TransponderClass, VesselStatic};

/// The time of untagged lines in a `data` source before any receiver time was seen:
/// 2000-01-01T00:00:00Z (fixed, so the same file always gives the same output).
pub const DATA_EPOCH: Timestamp = Timestamp::constant(946_684_800, 0);

/// Default bound between receiver and ingest time in a `live` source.
pub const DEFAULT_MAX_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// Times the observations of one stream according to its [`ClockMode`].
#[derive(Debug, Clone)]
pub struct EventClock {
    mode: ClockMode,
    max_skew_ms: i64,
    last_receiver_ms: Option<i64>,
}

/// One observation's time from [`EventClock::time`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    /// The event time to use.
    pub at: Timestamp,
    /// `Some(offset_ms)` (receiver minus ingest) when a live source's receiver time was off by
    /// more than the skew and was replaced by ingest time.
    pub retimed_ms: Option<i64>,
}

impl EventClock {
    /// A clock for `mode` with [`DEFAULT_MAX_SKEW`].
    pub fn new(mode: ClockMode) -> EventClock {
        EventClock {
            mode,
            max_skew_ms: i64::try_from(DEFAULT_MAX_SKEW.as_millis()).unwrap_or(i64::MAX),
            last_receiver_ms: None,
        }
    }

    /// The same with another skew bound.
    pub fn with_max_skew(mut self, max_skew: std::time::Duration) -> EventClock {
        self.max_skew_ms = i64::try_from(max_skew.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// The mode.
    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The event time of a sentence received at `ingest_now` (ignored in `data` mode).
    pub fn time(&mut self, meta: &SentenceMeta, ingest_now: Timestamp) -> Timed {
        let receiver = meta
            .receiver_time_ms()
            .filter(|ms| Timestamp::from_millisecond(*ms).is_ok());
        match self.mode {
            ClockMode::Data => {
                if let Some(ms) = receiver {
                    self.last_receiver_ms = Some(ms);
                }
                let ms = self.last_receiver_ms.unwrap_or(DATA_EPOCH.as_millisecond());
                Timed {
                    at: Timestamp::from_millisecond(ms).unwrap_or(DATA_EPOCH),
                    retimed_ms: None,
                }
            }
            ClockMode::Live => match receiver {
                Some(ms) => {
                    let offset = ms - ingest_now.as_millisecond();
                    if offset.abs() > self.max_skew_ms {
                        Timed {
                            at: ingest_now,
                            retimed_ms: Some(offset),
                        }
                    } else {
                        Timed {
                            at: Timestamp::from_millisecond(ms).unwrap_or(ingest_now),
                            retimed_ms: None,
                        }
                    }
                }
                None => Timed {
                    at: ingest_now,
                    retimed_ms: None,
                },
            },
        }
    }
}

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

/// Converts one decoded message, timed by [`event_time`] (no skew bound; see [`EventClock`]).
pub fn adapt(message: &Message, meta: &SentenceMeta, ingest_now: Timestamp) -> Adapted {
    adapt_at(message, event_time(meta, ingest_now))
}

/// Converts one decoded message whose event time is `at` (from an [`EventClock`]).
pub fn adapt_at(message: &Message, at: Timestamp) -> Adapted {
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

#[cfg(test)]
mod tests {
    use ais::{AisString, Mmsi, StaticDataReport};

    use super::*;

    fn meta(tag_ms: Option<i64>, pghp_ms: Option<i64>) -> SentenceMeta {
        let mut meta = SentenceMeta::default();
        meta.tag_time_ms = tag_ms;
        meta.pghp_time_ms = pghp_ms;
        meta
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn event_time_prefers_tag_block_then_pghp_then_ingest_clock() {
        let tag = 1_767_225_600_000;
        let pghp = 1_276_256_771_390;
        assert_eq!(
            event_time(&meta(Some(tag), Some(pghp)), now()).as_millisecond(),
            tag
        );
        assert_eq!(
            event_time(&meta(None, Some(pghp)), now()).as_millisecond(),
            pghp
        );
        assert_eq!(event_time(&meta(None, None), now()), now());
    }

    #[test]
    fn data_clock_never_uses_the_wall_clock() {
        let mut clock = EventClock::new(ClockMode::Data);
        assert_eq!(clock.time(&meta(None, None), now()).at, DATA_EPOCH);
        let tag = 1_767_225_600_000;
        assert_eq!(
            clock
                .time(&meta(Some(tag), None), now())
                .at
                .as_millisecond(),
            tag
        );
        assert_eq!(
            clock.time(&meta(None, None), now()).at.as_millisecond(),
            tag,
            "an untagged line takes the last receiver time"
        );
    }

    #[test]
    fn live_clock_bounds_receiver_time_by_ingest_time() {
        let mut clock = EventClock::new(ClockMode::Live);
        let ingest = now().as_millisecond();
        let near = clock.time(&meta(Some(ingest - 60_000), None), now());
        assert_eq!(
            (near.at.as_millisecond(), near.retimed_ms),
            (ingest - 60_000, None)
        );
        let slow = clock.time(&meta(Some(ingest - 600_000), None), now());
        assert_eq!((slow.at, slow.retimed_ms), (now(), Some(-600_000)));
        let ahead = clock.time(&meta(Some(4_102_444_800_000), None), now());
        assert_eq!(ahead.at, now(), "a receiver stamping 2100 is re-timed");
        assert_eq!(clock.time(&meta(None, None), now()).at, now());
    }

    #[test]
    fn positions_keep_not_available_as_none_and_classify_the_transponder() {
        let mut report = PositionReport::class_b(Mmsi(211_000_001), -36.5, 175.0);
        report.speed = Some(12.5);
        let Adapted::One(obs) = adapt(&Message::Position(report.clone()), &meta(None, None), now())
        else {
            panic!("one observation")
        };
        let Report::Position(p) = obs.report else {
            panic!("a position")
        };
        assert_eq!(
            (p.lat, p.lon, p.sog, p.cog),
            (Some(-36.5), Some(175.0), Some(12.5), None)
        );
        assert_eq!(p.class, TransponderClass::B);
        report.msg_type = 27;
        let Adapted::One(obs) = adapt(&Message::Position(report), &meta(None, None), now()) else {
            panic!("one observation")
        };
        assert!(matches!(
            obs.report,
            Report::Position(Position {
                class: TransponderClass::LongRange,
                ..
            })
        ));
    }

    #[test]
    fn type_19_gives_a_position_and_its_static_half() {
        let mut report = PositionReport::class_b(Mmsi(211_000_002), -41.0, 174.0);
        report.msg_type = 19;
        report.extended = Some(ais::ExtendedClassB {
            shipname: AisString::new("KOTUKU@@@@").unwrap(),
            shiptype: 37,
            ..ais::ExtendedClassB::default()
        });
        let Adapted::Two(position, statics) =
            adapt(&Message::Position(report), &meta(None, None), now())
        else {
            panic!("two observations")
        };
        assert!(matches!(position.report, Report::Position(_)));
        let Report::Static(s) = statics.report else {
            panic!("static")
        };
        assert_eq!(s.name.as_deref(), Some("KOTUKU"));
        assert_eq!(s.ship_type, Some(37));
        assert_eq!(s.dimensions, None, "all-zero dimensions mean unknown");
    }

    #[test]
    fn type_24_parts_carry_their_own_halves() {
        let a = StaticDataReport {
            repeat: 0,
            mmsi: Mmsi(211_000_003),
            part: StaticPart::A {
                shipname: AisString::new("TUI").unwrap(),
            },
        };
        let Adapted::One(obs) = adapt(&Message::StaticDataReport(a), &meta(None, None), now())
        else {
            panic!("one")
        };
        assert_eq!(
            obs.report,
            Report::Static(VesselStatic {
                name: Some("TUI".into()),
                ..VesselStatic::default()
            })
        );
        let b = StaticDataReport {
            repeat: 0,
            mmsi: Mmsi(211_000_003),
            part: StaticPart::B {
                shiptype: 36,
                vendorid: AisString::EMPTY,
                model: 0,
                serial: 0,
                callsign: AisString::new("ZM1234").unwrap(),
                dimensions: Dimensions {
                    to_bow: 8,
                    to_stern: 2,
                    to_port: 2,
                    to_starboard: 1,
                },
                mothership: None,
            },
        };
        let Adapted::One(obs) = adapt(&Message::StaticDataReport(b), &meta(None, None), now())
        else {
            panic!("one")
        };
        assert_eq!(
            obs.report,
            Report::Static(VesselStatic {
                callsign: Some("ZM1234".into()),
                ship_type: Some(36),
                dimensions: Some([8, 2, 2, 1]),
                ..VesselStatic::default()
            })
        );
    }

    #[test]
    fn base_stations_and_aids_to_navigation_never_become_observations() {
        // A type 4 from the DMA recording.
        let mut decoder = ais::Decoder::new();
        let (meta, message) = decoder
            .decode_line(b"!AIVDM,1,1,,B,402=481uaUcf;OQ55JS9ITi025Jp,0*2B")
            .unwrap();
        assert_eq!(adapt(&message.unwrap(), &meta, now()), Adapted::BaseStation);
        let aton = ais::AidToNavigation {
            repeat: 0,
            mmsi: Mmsi(995_126_001),
            aid_type: 1,
            name: AisString::new("RANGITOTO LIGHT").unwrap(),
            accuracy: false,
            lon: Some(174.8),
            lat: Some(-36.8),
            dimensions: Dimensions::default(),
            epfd: 1,
            second: None,
            off_position: false,
            regional: 0,
            raim: false,
            virtual_aid: false,
            assigned: false,
        };
        assert_eq!(
            adapt(&Message::AidToNavigation(aton), &meta, now()),
            Adapted::AidToNavigation
        );
    }
}
