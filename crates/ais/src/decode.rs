//! Payload decoding: from a de-armoured bit buffer to a [`Message`], with per-type length checks.

use crate::bits::Bits;
use crate::message::{
    AidToNavigation, BaseStationReport, ClassBFlags, Dimensions, Eta, ExtendedClassB, Message,
    PositionReport, StaticDataReport, StaticPart, StaticVoyage,
};
use crate::{DecodeError, Mmsi};

/// Minimum payload length in bits for each decoded type, as gpsd enforces them.
pub(crate) fn min_bits(msg_type: u8) -> usize {
    match msg_type {
        1..=3 => 163,
        4 => 168,
        5 => 420,
        18 => 168,
        19 => 312,
        21 => 272,
        24 => 160,
        27 => 96,
        _ => 38,
    }
}

/// Longitude in 1/10000 minute to degrees, `None` when not available or out of range.
fn lon(raw: i32, per_degree: f64) -> Option<f64> {
    let deg = f64::from(raw) / per_degree;
    (deg.abs() <= 180.0).then_some(deg)
}

/// Latitude to degrees, `None` when not available or out of range.
fn lat(raw: i32, per_degree: f64) -> Option<f64> {
    let deg = f64::from(raw) / per_degree;
    (deg.abs() <= 90.0).then_some(deg)
}

/// Speed in 1/10 knot; 1023 is "not available".
fn speed(raw: u32) -> Option<f32> {
    (raw < 1023).then(|| tenths(raw))
}

/// Course in 1/10 degree; 3600 (and anything above) is "not available".
fn course(raw: u32) -> Option<f32> {
    (raw < 3600).then(|| tenths(raw))
}

/// Heading in degrees; 511 (and anything above 359) is "not available".
fn heading(raw: u16) -> Option<u16> {
    (raw < 360).then_some(raw)
}

/// UTC second; 60..=63 are "not available" codes.
fn second(raw: u8) -> Option<u8> {
    (raw < 60).then_some(raw)
}

fn tenths(raw: u32) -> f32 {
    // Values are at most 12 bits, exactly representable.
    let v = u16::try_from(raw).unwrap_or(u16::MAX);
    f32::from(v) / 10.0
}

fn dims(b: &Bits<'_>, at: usize) -> Dimensions {
    Dimensions {
        to_bow: b.u16(at, 9),
        to_stern: b.u16(at.saturating_add(9), 9),
        to_port: b.u8(at.saturating_add(18), 6),
        to_starboard: b.u8(at.saturating_add(24), 6),
    }
}

/// Decodes a complete de-armoured payload.
/// The fields types 18 and 19 lay out identically (bits 38..139); the rest is per type.
fn class_b_position(b: &Bits<'_>, msg_type: u8, repeat: u8, mmsi: Mmsi) -> PositionReport {
    PositionReport {
        msg_type,
        repeat,
        mmsi,
        status: None,
        turn: None,
        speed: speed(b.u(46, 10)),
        accuracy: b.flag(56),
        lon: lon(b.i(57, 28), 600_000.0),
        lat: lat(b.i(85, 27), 600_000.0),
        course: course(b.u(112, 12)),
        heading: heading(b.u16(124, 9)),
        second: second(b.u8(133, 6)),
        maneuver: None,
        raim: false,
        radio: 0,
        class_b: None,
        extended: None,
        gnss_latency: None,
    }
}

pub(crate) fn decode_message(b: &Bits<'_>) -> Result<Message, DecodeError> {
    let bits = b.len();
    if bits < 38 {
        let msg_type = if bits >= 6 { b.u8(0, 6) } else { 0 };
        return Err(DecodeError::PayloadTooShort {
            msg_type,
            bits,
            needed: 38,
        });
    }
    let msg_type = b.u8(0, 6);
    let needed = min_bits(msg_type);
    if bits < needed {
        return Err(DecodeError::PayloadTooShort {
            msg_type,
            bits,
            needed,
        });
    }
    if msg_type == 27 && bits != 96 && bits != 168 {
        // Type 27 is 96 bits, or a whole 168-bit slot when padded; other lengths are not
        // long-range reports (gpsd applies the same rule).
        return Err(DecodeError::BadValue {
            msg_type,
            field: "payload length",
            value: u32::try_from(bits).unwrap_or(u32::MAX),
        });
    }
    let repeat = b.u8(6, 2);
    let mmsi = Mmsi(b.u(8, 30));
    let msg = match msg_type {
        1..=3 => Message::Position(PositionReport {
            msg_type,
            repeat,
            mmsi,
            status: Some(b.u8(38, 4)),
            turn: match i8::try_from(b.i(42, 8)).unwrap_or(i8::MIN) {
                i8::MIN => None,
                t => Some(t),
            },
            speed: speed(b.u(50, 10)),
            accuracy: b.flag(60),
            lon: lon(b.i(61, 28), 600_000.0),
            lat: lat(b.i(89, 27), 600_000.0),
            course: course(b.u(116, 12)),
            heading: heading(b.u16(128, 9)),
            second: second(b.u8(137, 6)),
            maneuver: Some(b.u8(143, 2)),
            raim: b.flag(148),
            radio: b.u(149, 19),
            class_b: None,
            extended: None,
            gnss_latency: None,
        }),
        4 => Message::BaseStation(BaseStationReport {
            repeat,
            mmsi,
            year: b.u16(38, 14),
            month: b.u8(52, 4),
            day: b.u8(56, 5),
            hour: b.u8(61, 5),
            minute: b.u8(66, 6),
            second: b.u8(72, 6),
            accuracy: b.flag(78),
            lon: lon(b.i(79, 28), 600_000.0),
            lat: lat(b.i(107, 27), 600_000.0),
            epfd: b.u8(134, 4),
            raim: b.flag(148),
            radio: b.u(149, 19),
        }),
        5 => Message::StaticVoyage(StaticVoyage {
            repeat,
            mmsi,
            ais_version: b.u8(38, 2),
            imo: b.u(40, 30),
            callsign: b.text(70, 7),
            shipname: b.text(112, 20),
            shiptype: b.u8(232, 8),
            dimensions: dims(b, 240),
            epfd: b.u8(270, 4),
            eta: Eta {
                month: b.u8(274, 4),
                day: b.u8(278, 5),
                hour: b.u8(283, 5),
                minute: b.u8(288, 6),
            },
            draught: tenths(b.u(294, 8)),
            destination: b.text(302, 20),
            dte: b.flag(422),
        }),
        18 => Message::Position(PositionReport {
            raim: b.flag(147),
            radio: b.u(148, 20),
            class_b: Some(ClassBFlags {
                cs: b.flag(141),
                display: b.flag(142),
                dsc: b.flag(143),
                band: b.flag(144),
                msg22: b.flag(145),
                assigned: b.flag(146),
            }),
            ..class_b_position(b, msg_type, repeat, mmsi)
        }),
        19 => Message::Position(PositionReport {
            raim: b.flag(305),
            radio: 0,
            class_b: None,
            extended: Some(ExtendedClassB {
                shipname: b.text(143, 20),
                shiptype: b.u8(263, 8),
                dimensions: dims(b, 271),
                epfd: b.u8(301, 4),
                dte: b.flag(306),
                assigned: b.flag(307),
            }),
            ..class_b_position(b, msg_type, repeat, mmsi)
        }),
        21 => {
            // Name extension: whole characters after bit 272 (at most 14), appended only when
            // the 20-character name is full (as gpsd does).
            let mut name: crate::AisString<34> = b.text(43, 20);
            let ext_chars = (bits.saturating_sub(272) / 6).min(14);
            if name.len() == 20 && ext_chars > 0 {
                let ext: crate::AisString<14> = b.text(272, ext_chars);
                for ch in ext.as_str().bytes() {
                    name.push(ch);
                }
            }
            Message::AidToNavigation(AidToNavigation {
                repeat,
                mmsi,
                aid_type: b.u8(38, 5),
                name,
                accuracy: b.flag(163),
                lon: lon(b.i(164, 28), 600_000.0),
                lat: lat(b.i(192, 27), 600_000.0),
                dimensions: dims(b, 219),
                epfd: b.u8(249, 4),
                second: second(b.u8(253, 6)),
                off_position: b.flag(259),
                regional: b.u8(260, 8),
                raim: b.flag(268),
                virtual_aid: b.flag(269),
                assigned: b.flag(270),
            })
        }
        24 => {
            let part = match b.u8(38, 2) {
                0 => StaticPart::A {
                    shipname: b.text(40, 20),
                },
                1 => {
                    if bits < 168 {
                        return Err(DecodeError::PayloadTooShort {
                            msg_type,
                            bits,
                            needed: 168,
                        });
                    }
                    let auxiliary = mmsi.0 / 10_000_000 == 98;
                    StaticPart::B {
                        shiptype: b.u8(40, 8),
                        vendorid: b.text(48, 3),
                        model: b.u8(66, 4),
                        serial: b.u(70, 20),
                        callsign: b.text(90, 7),
                        dimensions: if auxiliary {
                            Dimensions::default()
                        } else {
                            dims(b, 132)
                        },
                        mothership: auxiliary.then(|| Mmsi(b.u(132, 30))),
                    }
                }
                other => {
                    return Err(DecodeError::BadValue {
                        msg_type,
                        field: "part number",
                        value: u32::from(other),
                    });
                }
            };
            Message::StaticDataReport(StaticDataReport { repeat, mmsi, part })
        }
        27 => Message::Position(PositionReport {
            msg_type,
            repeat,
            mmsi,
            status: Some(b.u8(40, 4)),
            turn: None,
            speed: {
                let s = b.u8(79, 6);
                (s < 63).then(|| f32::from(s))
            },
            accuracy: b.flag(38),
            lon: lon(b.i(44, 18), 600.0),
            lat: lat(b.i(62, 17), 600.0),
            course: {
                let c = b.u16(85, 9);
                (c < 360).then(|| f32::from(c))
            },
            heading: None,
            second: None,
            maneuver: None,
            raim: b.flag(39),
            radio: 0,
            class_b: None,
            extended: None,
            gnss_latency: Some(b.flag(94)),
        }),
        _ => Message::Unsupported {
            msg_type,
            repeat,
            mmsi,
        },
    };
    Ok(msg)
}
