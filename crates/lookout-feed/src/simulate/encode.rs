//! From the vessel model to `ais` messages (types 1, 18, 5, 24A and 24B).

use ais::{
    AisString, Dimensions, Eta, Message, Mmsi, PositionReport, StaticDataReport, StaticPart,
    StaticVoyage,
};

use super::vessel::{Class, Vessel};

/// The position report a vessel sends at `t` (ms since start; after `advance(t)`).
pub(super) fn position(vessel: &Vessel, t: i64) -> Message {
    let fix = vessel.fix();
    let mmsi = Mmsi(vessel.mmsi);
    // Positions to 1/10,000 minute as on the air; course and speed to a tenth.
    let tenth = |x: f64| ((x * 10.0).round() / 10.0) as f32;
    let second = Some(((t / 1000).rem_euclid(60)) as u8);
    let course = Some(tenth(fix.cog.rem_euclid(360.0)).min(359.9));
    let heading = Some((fix.cog.round() as u16) % 360);
    let speed = Some(tenth(fix.sog));
    let report = match vessel.class {
        Class::A => PositionReport {
            status: Some(fix.status),
            turn: Some(0),
            speed,
            course,
            heading,
            second,
            ..PositionReport::class_a(mmsi, fix.lat, fix.lon)
        },
        Class::B => PositionReport {
            speed,
            course,
            heading,
            second,
            ..PositionReport::class_b(mmsi, fix.lat, fix.lon)
        },
    };
    Message::Position(report)
}

/// The static messages a vessel sends every 6 minutes: type 5 (Class A) or 24A + 24B (Class B).
pub(super) fn statics(vessel: &Vessel) -> Result<Vec<Message>, String> {
    let mmsi = Mmsi(vessel.mmsi);
    let name = AisString::<20>::new(&vessel.name)
        .ok_or_else(|| format!("name {:?} is not AIS text", vessel.name))?;
    let callsign = AisString::<7>::new(&vessel.callsign)
        .ok_or_else(|| format!("callsign {:?} is not AIS text", vessel.callsign))?;
    let dims = Dimensions {
        to_bow: vessel.dims[0],
        to_stern: vessel.dims[1],
        to_port: vessel.dims[2].min(63) as u8,
        to_starboard: vessel.dims[3].min(63) as u8,
    };
    Ok(match vessel.class {
        Class::A => {
            let destination = AisString::<20>::new(vessel.destination)
                .ok_or_else(|| format!("destination {:?} is not AIS text", vessel.destination))?;
            vec![Message::StaticVoyage(StaticVoyage {
                repeat: 0,
                mmsi,
                ais_version: 0,
                imo: vessel.imo,
                callsign,
                shipname: name,
                shiptype: vessel.ship_type,
                dimensions: dims,
                epfd: 1,
                eta: Eta::default(),
                draught: if vessel.dims[0] + vessel.dims[1] > 60 {
                    8.5
                } else {
                    3.2
                },
                destination,
                dte: false,
            })]
        }
        Class::B => vec![
            Message::StaticDataReport(StaticDataReport {
                repeat: 0,
                mmsi,
                part: StaticPart::A { shipname: name },
            }),
            Message::StaticDataReport(StaticDataReport {
                repeat: 0,
                mmsi,
                part: StaticPart::B {
                    shiptype: vessel.ship_type,
                    vendorid: AisString::<3>::new("SIM").unwrap_or(AisString::EMPTY),
                    model: 1,
                    serial: vessel.mmsi % 1_000_000,
                    callsign,
                    dimensions: dims,
                    mothership: None,
                },
            }),
        ],
    })
}
