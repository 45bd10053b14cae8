//! Decoded AIS messages: [`Message`] and one struct per family, values in units with every
//! "not available" sentinel mapped to `None`.

use crate::{AisString, Mmsi};

/// A decoded AIS message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// Position report: Class A (types 1, 2, 3), Class B (18), extended Class B (19), long-range (27).
    Position(PositionReport),
    /// Base station report (type 4): a shore station, not a vessel.
    BaseStation(BaseStationReport),
    /// Class A static and voyage data (type 5).
    StaticVoyage(StaticVoyage),
    /// Aid-to-navigation report (type 21): not a vessel.
    AidToNavigation(AidToNavigation),
    /// Class B static data report (type 24, part A or B).
    StaticDataReport(StaticDataReport),
    /// A message type this crate does not decode. Not an error.
    Unsupported {
        /// Message type (0..=63).
        msg_type: u8,
        /// Repeat indicator.
        repeat: u8,
        /// Source MMSI.
        mmsi: Mmsi,
    },
}

impl Message {
    /// The message type number (1..=27, or the unsupported type).
    pub fn msg_type(&self) -> u8 {
        match self {
            Self::Position(p) => p.msg_type,
            Self::BaseStation(_) => 4,
            Self::StaticVoyage(_) => 5,
            Self::AidToNavigation(_) => 21,
            Self::StaticDataReport(_) => 24,
            Self::Unsupported { msg_type, .. } => *msg_type,
        }
    }

    /// The source MMSI.
    pub fn mmsi(&self) -> Mmsi {
        match self {
            Self::Position(p) => p.mmsi,
            Self::BaseStation(b) => b.mmsi,
            Self::StaticVoyage(s) => s.mmsi,
            Self::AidToNavigation(a) => a.mmsi,
            Self::StaticDataReport(s) => s.mmsi,
            Self::Unsupported { mmsi, .. } => *mmsi,
        }
    }

    /// The repeat indicator (0..=3).
    pub fn repeat(&self) -> u8 {
        match self {
            Self::Position(p) => p.repeat,
            Self::BaseStation(b) => b.repeat,
            Self::StaticVoyage(s) => s.repeat,
            Self::AidToNavigation(a) => a.repeat,
            Self::StaticDataReport(s) => s.repeat,
            Self::Unsupported { repeat, .. } => *repeat,
        }
    }

    /// False for messages from stations that are not vessels (base stations, aids to navigation).
    pub fn is_from_vessel(&self) -> bool {
        !matches!(self, Self::BaseStation(_) | Self::AidToNavigation(_))
    }
}

/// Ship dimensions from the reference point for the reported position, in metres.
///
/// Raw values are kept (0 means not available; 511/63 mean "that value or more").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dimensions {
    /// Distance to bow (0..=511 m).
    pub to_bow: u16,
    /// Distance to stern (0..=511 m).
    pub to_stern: u16,
    /// Distance to port side (0..=63 m).
    pub to_port: u8,
    /// Distance to starboard side (0..=63 m).
    pub to_starboard: u8,
}

impl Dimensions {
    /// Overall length in metres, `None` when not available.
    pub fn length(&self) -> Option<u16> {
        let len = self.to_bow.saturating_add(self.to_stern);
        (len > 0).then_some(len)
    }

    /// Overall beam in metres, `None` when not available.
    pub fn beam(&self) -> Option<u8> {
        let beam = self.to_port.saturating_add(self.to_starboard);
        (beam > 0).then_some(beam)
    }
}

/// Position report, from types 1/2/3 (Class A), 18 (Class B), 19 (extended Class B) or 27 (long-range).
#[derive(Debug, Clone, PartialEq)]
pub struct PositionReport {
    /// Message type: 1, 2, 3, 18, 19 or 27.
    pub msg_type: u8,
    /// Repeat indicator (0..=3).
    pub repeat: u8,
    /// Source MMSI.
    pub mmsi: Mmsi,
    /// Navigational status (0..=15, 15 = not defined); Class A and type 27 only.
    pub status: Option<u8>,
    /// Raw rate-of-turn indicator (-127..=127; -128 "not available" maps to `None`); Class A only.
    pub turn: Option<i8>,
    /// Speed over ground in knots (102.3 "not available" maps to `None`; 102.2 means ≥ 102.2).
    pub speed: Option<f32>,
    /// Position accuracy flag (true: high, < 10 m).
    pub accuracy: bool,
    /// Longitude in degrees east (181 "not available" maps to `None`).
    pub lon: Option<f64>,
    /// Latitude in degrees north (91 "not available" maps to `None`).
    pub lat: Option<f64>,
    /// Course over ground in degrees (360 "not available" maps to `None`).
    pub course: Option<f32>,
    /// True heading in degrees (511 "not available" maps to `None`).
    pub heading: Option<u16>,
    /// UTC second of the report (60..=63 "not available / manual / dead reckoning / inoperative" map to `None`).
    pub second: Option<u8>,
    /// Special manoeuvre indicator (Class A only; 0 = not available).
    pub maneuver: Option<u8>,
    /// RAIM flag.
    pub raim: bool,
    /// Radio status bits (Class A, 18), 0 when absent.
    pub radio: u32,
    /// Class B flags (type 18 only).
    pub class_b: Option<ClassBFlags>,
    /// Static part of an extended Class B report (type 19 only).
    pub extended: Option<ExtendedClassB>,
    /// GNSS position latency flag of type 27 (true: position older than 5 s). `None` for other types.
    pub gnss_latency: Option<bool>,
}

/// Class B unit flags of a type 18 report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassBFlags {
    /// Carrier-sense unit (true) or SOTDMA unit (false).
    pub cs: bool,
    /// Has a display.
    pub display: bool,
    /// Has DSC.
    pub dsc: bool,
    /// Can use the whole marine band.
    pub band: bool,
    /// Accepts channel management by message 22.
    pub msg22: bool,
    /// Assigned mode.
    pub assigned: bool,
}

/// Static part of a type 19 extended Class B report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtendedClassB {
    /// Vessel name.
    pub shipname: AisString<20>,
    /// Ship and cargo type (0..=99; 0 = not available).
    pub shiptype: u8,
    /// Dimensions.
    pub dimensions: Dimensions,
    /// Position fix type (EPFD).
    pub epfd: u8,
    /// Data terminal ready flag as transmitted (false = available).
    pub dte: bool,
    /// Assigned mode.
    pub assigned: bool,
}

/// Base station report (type 4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaseStationReport {
    /// Repeat indicator.
    pub repeat: u8,
    /// Source MMSI.
    pub mmsi: Mmsi,
    /// UTC year (0 = not available).
    pub year: u16,
    /// UTC month (0 = not available).
    pub month: u8,
    /// UTC day (0 = not available).
    pub day: u8,
    /// UTC hour (24 = not available).
    pub hour: u8,
    /// UTC minute (60 = not available).
    pub minute: u8,
    /// UTC second (60 = not available).
    pub second: u8,
    /// Position accuracy flag.
    pub accuracy: bool,
    /// Longitude in degrees (`None` when not available).
    pub lon: Option<f64>,
    /// Latitude in degrees (`None` when not available).
    pub lat: Option<f64>,
    /// Position fix type (EPFD).
    pub epfd: u8,
    /// RAIM flag.
    pub raim: bool,
    /// Radio status bits.
    pub radio: u32,
}

/// Estimated time of arrival as transmitted (month/day/hour/minute; 0/0/24/60 = not available).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Eta {
    /// Month 1..=12 (0 = not available).
    pub month: u8,
    /// Day 1..=31 (0 = not available).
    pub day: u8,
    /// Hour 0..=23 (24 = not available).
    pub hour: u8,
    /// Minute 0..=59 (60 = not available).
    pub minute: u8,
}

/// Class A static and voyage related data (type 5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaticVoyage {
    /// Repeat indicator.
    pub repeat: u8,
    /// Source MMSI.
    pub mmsi: Mmsi,
    /// AIS version indicator.
    pub ais_version: u8,
    /// IMO number (0 = not available).
    pub imo: u32,
    /// Call sign.
    pub callsign: AisString<7>,
    /// Vessel name.
    pub shipname: AisString<20>,
    /// Ship and cargo type (0 = not available).
    pub shiptype: u8,
    /// Dimensions.
    pub dimensions: Dimensions,
    /// Position fix type (EPFD).
    pub epfd: u8,
    /// ETA as transmitted.
    pub eta: Eta,
    /// Maximum present static draught in metres (0 = not available).
    pub draught: f32,
    /// Destination.
    pub destination: AisString<20>,
    /// Data terminal ready flag as transmitted (false = available).
    pub dte: bool,
}

/// Aid-to-navigation report (type 21).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AidToNavigation {
    /// Repeat indicator.
    pub repeat: u8,
    /// Source MMSI.
    pub mmsi: Mmsi,
    /// Type of aid (0..=31).
    pub aid_type: u8,
    /// Name, with the name extension appended.
    pub name: AisString<34>,
    /// Position accuracy flag.
    pub accuracy: bool,
    /// Longitude in degrees (`None` when not available).
    pub lon: Option<f64>,
    /// Latitude in degrees (`None` when not available).
    pub lat: Option<f64>,
    /// Dimensions.
    pub dimensions: Dimensions,
    /// Position fix type (EPFD).
    pub epfd: u8,
    /// UTC second (`None` when ≥ 60).
    pub second: Option<u8>,
    /// Off-position indicator.
    pub off_position: bool,
    /// Regional reserved bits.
    pub regional: u8,
    /// RAIM flag.
    pub raim: bool,
    /// Virtual aid (no physical structure).
    pub virtual_aid: bool,
    /// Assigned mode.
    pub assigned: bool,
}

/// Class B static data report (type 24).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaticDataReport {
    /// Repeat indicator.
    pub repeat: u8,
    /// Source MMSI.
    pub mmsi: Mmsi,
    /// Part A or part B.
    pub part: StaticPart,
}

/// The content of a type 24 part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticPart {
    /// Part A: the vessel name.
    A {
        /// Vessel name.
        shipname: AisString<20>,
    },
    /// Part B: type, vendor, call sign and dimensions (or mothership for auxiliary craft).
    B {
        /// Ship and cargo type.
        shiptype: u8,
        /// Vendor id (3 characters).
        vendorid: AisString<3>,
        /// Unit model code.
        model: u8,
        /// Unit serial number.
        serial: u32,
        /// Call sign.
        callsign: AisString<7>,
        /// Dimensions (all zero when `mothership` is set).
        dimensions: Dimensions,
        /// Mothership MMSI, for auxiliary craft (`98MIDxxxx`) only.
        mothership: Option<Mmsi>,
    },
}
