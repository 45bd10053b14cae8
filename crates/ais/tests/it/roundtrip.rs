//! Encoder round trips (proptest): random valid messages of types 1, 5, 18 and 24 encode to
//! sentences that decode back to the same message, also with tag blocks and multipart splitting.

use ais::encode::{EncodeOptions, TagBlockOptions, encode};
use ais::{
    AisString, ClassBFlags, Decoder, Dimensions, Eta, Message, Mmsi, PositionReport,
    StaticDataReport, StaticPart, StaticVoyage,
};
use proptest::prelude::*;

/// Text made of 6-bit characters, without `@` and without trailing spaces (decoding trims them).
fn ais_text<const N: usize>(max: usize) -> impl Strategy<Value = AisString<N>> {
    proptest::string::string_regex(&format!("[A-Z0-9 ,./<>-]{{0,{max}}}"))
        .unwrap()
        .prop_map(|s| AisString::new(s.trim_end()).unwrap())
}

fn dims() -> impl Strategy<Value = Dimensions> {
    (0u16..512, 0u16..512, 0u8..64, 0u8..64).prop_map(
        |(to_bow, to_stern, to_port, to_starboard)| Dimensions {
            to_bow,
            to_stern,
            to_port,
            to_starboard,
        },
    )
}

fn lat_lon() -> impl Strategy<Value = (Option<f64>, Option<f64>)> {
    (
        proptest::option::of(-54_000_000i32..=54_000_000),
        proptest::option::of(-108_000_000i32..=108_000_000),
    )
        .prop_map(|(lat, lon)| {
            (
                lat.map(|v| f64::from(v) / 600_000.0),
                lon.map(|v| f64::from(v) / 600_000.0),
            )
        })
}

fn tenths(max: u16) -> impl Strategy<Value = Option<f32>> {
    proptest::option::of(0u16..max).prop_map(|v| v.map(|v| f32::from(v) / 10.0))
}

fn position() -> impl Strategy<Value = PositionReport> {
    (
        prop_oneof![Just(1u8), Just(2), Just(3), Just(18)],
        0u8..4,
        0u32..(1 << 30),
        (
            0u8..16,
            proptest::option::of(-127i8..=127),
            tenths(1023),
            any::<bool>(),
        ),
        lat_lon(),
        (
            tenths(3600),
            proptest::option::of(0u16..360),
            proptest::option::of(0u8..60),
            0u8..3,
        ),
        (any::<bool>(), 0u32..(1 << 19), any::<[bool; 6]>()),
    )
        .prop_map(
            |(
                msg_type,
                repeat,
                mmsi,
                (status, turn, speed, accuracy),
                (lat, lon),
                (course, heading, second, maneuver),
                (raim, radio, f),
            )| {
                let class_a = msg_type <= 3;
                PositionReport {
                    status: class_a.then_some(status),
                    turn: if class_a { turn } else { None },
                    speed,
                    accuracy,
                    lat,
                    lon,
                    course,
                    heading,
                    second,
                    maneuver: class_a.then_some(maneuver),
                    raim,
                    radio,
                    class_b: (!class_a).then_some(ClassBFlags {
                        cs: f[0],
                        display: f[1],
                        dsc: f[2],
                        band: f[3],
                        msg22: f[4],
                        assigned: f[5],
                    }),
                    ..PositionReport::class_a(Mmsi(mmsi), 0.0, 0.0).with_type(msg_type, repeat)
                }
            },
        )
}

trait WithType {
    fn with_type(self, msg_type: u8, repeat: u8) -> Self;
}

impl WithType for PositionReport {
    fn with_type(self, msg_type: u8, repeat: u8) -> Self {
        PositionReport {
            msg_type,
            repeat,
            ..self
        }
    }
}

fn static_voyage() -> impl Strategy<Value = StaticVoyage> {
    (
        (0u8..4, 0u32..(1 << 30), 0u8..4, 0u32..(1 << 30)),
        (
            ais_text::<7>(7),
            ais_text::<20>(20),
            any::<u8>(),
            dims(),
            0u8..16,
        ),
        (
            0u8..13,
            0u8..32,
            0u8..25,
            0u8..61,
            0u8..=255,
            ais_text::<20>(20),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (repeat, mmsi, ais_version, imo),
                (callsign, shipname, shiptype, dimensions, epfd),
                (month, day, hour, minute, draught, destination, dte),
            )| StaticVoyage {
                repeat,
                mmsi: Mmsi(mmsi),
                ais_version,
                imo,
                callsign,
                shipname,
                shiptype,
                dimensions,
                epfd,
                eta: Eta {
                    month,
                    day,
                    hour,
                    minute,
                },
                draught: f32::from(draught) / 10.0,
                destination,
                dte,
            },
        )
}

fn static_report() -> impl Strategy<Value = StaticDataReport> {
    let part_a = ais_text::<20>(20).prop_map(|shipname| StaticPart::A { shipname });
    let part_b = (
        any::<u8>(),
        ais_text::<3>(3),
        0u8..16,
        0u32..(1 << 20),
        ais_text::<7>(7),
        dims(),
        proptest::option::of(0u32..(1 << 30)),
    )
        .prop_map(
            |(shiptype, vendorid, model, serial, callsign, dimensions, mothership)| StaticPart::B {
                shiptype,
                vendorid,
                model,
                serial,
                callsign,
                dimensions: if mothership.is_some() {
                    Dimensions::default()
                } else {
                    dimensions
                },
                mothership: mothership.map(|m| Mmsi(980_000_000 + m % 10_000_000)),
            },
        );
    (0u8..4, 0u32..(1 << 30), prop_oneof![part_a, part_b]).prop_map(|(repeat, mmsi, part)| {
        // The mothership field is only decoded for auxiliary-craft MMSIs (98MIDxxxx).
        let mmsi = match part {
            StaticPart::B {
                mothership: Some(_),
                ..
            } => 982_000_000 + mmsi % 1_000_000,
            StaticPart::B {
                mothership: None, ..
            } if mmsi / 10_000_000 == 98 => mmsi / 2,
            _ => mmsi,
        };
        StaticDataReport {
            repeat,
            mmsi: Mmsi(mmsi),
            part,
        }
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        position().prop_map(Message::Position),
        static_voyage().prop_map(Message::StaticVoyage),
        static_report().prop_map(Message::StaticDataReport),
    ]
}

fn approx(a: &Message, b: &Message) -> bool {
    // Floats are carried as scaled integers: compare through the gpsd JSON printing, which rounds.
    ais::gpsd_json::to_string(a) == ais::gpsd_json::to_string(b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_gives_the_message(msg in message(), seq in 0u8..10, time in proptest::option::of(946_684_800i64..4_102_444_800), source in proptest::option::of("[a-z0-9]{1,12}")) {
        let mut opts = EncodeOptions::default().seq_id(seq);
        if time.is_some() || source.is_some() {
            let mut tag = TagBlockOptions::new();
            if let Some(t) = time { tag = tag.time(t); }
            if let Some(s) = &source { tag = tag.source(s.clone()); }
            opts = opts.tag_block(tag);
        }
        let lines = encode(&msg, &opts).unwrap();
        for l in &lines {
            let sentence = &l[l.rfind('!').unwrap()..];
            prop_assert!(sentence.len() <= 82, "sentence too long: {l}");
        }
        let mut decoder = Decoder::new();
        let mut got = Vec::new();
        for l in &lines {
            got.extend(decoder.decode_line(l.as_bytes()));
        }
        prop_assert_eq!(got.len(), 1, "{:?}", lines);
        let (meta, decoded) = got.pop().unwrap();
        let decoded = decoded.unwrap();
        prop_assert!(approx(&decoded, &msg), "{:?} != {:?}", decoded, msg);
        prop_assert_eq!(meta.tag_time_ms, time.map(|t| t * 1000));
        prop_assert_eq!(meta.source.map(|s| s.as_str().to_owned()), source);
        prop_assert_eq!(usize::from(meta.fragments), lines.len());
    }
}

#[test]
fn type5_is_split_into_two_sentences() {
    let msg = Message::StaticVoyage(StaticVoyage {
        repeat: 0,
        mmsi: Mmsi(351_759_000),
        ais_version: 0,
        imo: 9_134_270,
        callsign: AisString::new("3FOF8").unwrap(),
        shipname: AisString::new("EVER DIADEM").unwrap(),
        shiptype: 70,
        dimensions: Dimensions {
            to_bow: 225,
            to_stern: 70,
            to_port: 1,
            to_starboard: 31,
        },
        epfd: 1,
        eta: Eta {
            month: 5,
            day: 15,
            hour: 14,
            minute: 0,
        },
        draught: 12.2,
        destination: AisString::new("NEW YORK").unwrap(),
        dte: false,
    });
    let lines = encode(
        &msg,
        &EncodeOptions::default()
            .seq_id(1)
            .tag_block(TagBlockOptions::new().source("sim").time(1_700_000_000)),
    )
    .unwrap();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("\\g:1-2-1,s:sim,c:1700000000*"));
    assert!(lines[1].contains("!AIVDM,2,2,1,A,"));
}

#[test]
fn encoder_rejects_bad_values() {
    let bad_lat = Message::Position(PositionReport::class_a(Mmsi(1), 95.0, 0.0));
    assert!(matches!(
        encode(&bad_lat, &EncodeOptions::default()),
        Err(ais::EncodeError::OutOfRange { field: "lat", .. })
    ));
    let unsupported = Message::Unsupported {
        msg_type: 8,
        repeat: 0,
        mmsi: Mmsi(1),
    };
    assert!(matches!(
        encode(&unsupported, &EncodeOptions::default()),
        Err(ais::EncodeError::UnsupportedType { msg_type: 8 })
    ));
    let ok = Message::Position(PositionReport::class_a(Mmsi(1), 0.0, 0.0));
    let bad_source = EncodeOptions::default().tag_block(TagBlockOptions::new().source("a*b"));
    assert!(matches!(
        encode(&ok, &bad_source),
        Err(ais::EncodeError::BadSource { .. })
    ));
}
