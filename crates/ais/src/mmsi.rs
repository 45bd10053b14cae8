//! [`Mmsi`]: the Maritime Mobile Service Identity and its classification by digit pattern (ITU-R M.585).

use core::fmt;

/// A 30-bit MMSI as carried in every AIS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mmsi(pub u32);

/// What kind of station an MMSI identifies, from its digit pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MmsiKind {
    /// An individual ship station, `MIDxxxxxx` with MID 201..=775.
    Ship,
    /// A group of ship stations, `0MIDxxxxx`.
    ShipGroup,
    /// A coast / base station, `00MIDxxxx`.
    BaseStation,
    /// An aid to navigation, `99MIDxxxx`.
    AidToNavigation,
    /// A search-and-rescue aircraft, `111MIDxxx`.
    SarAircraft,
    /// A craft associated with a parent ship (e.g. a tender), `98MIDxxxx`.
    AuxiliaryCraft,
    /// An AIS-SART, MOB device or EPIRB-AIS, `970xxxxxx`, `972xxxxxx`, `974xxxxxx`.
    Distress,
    /// A handheld VHF with DSC/GNSS, `8MIDxxxxx`.
    Handheld,
    /// Not a valid MMSI: zero, more than nine digits, or a pattern no station uses
    /// (such as `000000000`, `1xxxxxxxx` other than SAR, `999999999`).
    Invalid,
}

impl Mmsi {
    /// Classifies by digit pattern.
    pub fn kind(self) -> MmsiKind {
        let n = self.0;
        if n == 0 || n > 999_999_999 {
            return MmsiKind::Invalid;
        }
        let d1 = n / 100_000_000;
        let d12 = n / 10_000_000;
        let d123 = n / 1_000_000;
        let mid_ok = |mid: u32| (201..=775).contains(&mid);
        match d1 {
            0 => {
                if d12 == 0 {
                    // 00MIDxxxx
                    if mid_ok(n / 10_000) {
                        MmsiKind::BaseStation
                    } else {
                        MmsiKind::Invalid
                    }
                } else if mid_ok(n / 100_000) {
                    MmsiKind::ShipGroup
                } else {
                    MmsiKind::Invalid
                }
            }
            1 => {
                if d123 == 111 && mid_ok((n / 1_000) % 1_000) {
                    MmsiKind::SarAircraft
                } else {
                    MmsiKind::Invalid
                }
            }
            2..=7 => {
                if mid_ok(n / 1_000_000) {
                    MmsiKind::Ship
                } else {
                    MmsiKind::Invalid
                }
            }
            8 => {
                if mid_ok((n / 100_000) % 1_000) {
                    MmsiKind::Handheld
                } else {
                    MmsiKind::Invalid
                }
            }
            _ => match d12 {
                99 if mid_ok((n / 10_000) % 1_000) => MmsiKind::AidToNavigation,
                98 if mid_ok((n / 10_000) % 1_000) => MmsiKind::AuxiliaryCraft,
                97 if matches!(d123, 970 | 972 | 974) => MmsiKind::Distress,
                _ => MmsiKind::Invalid,
            },
        }
    }

    /// True when the MMSI identifies a vessel (ship, ship group member, auxiliary craft, handheld
    /// or distress device on board): what a vessel tracker should keep.
    pub fn is_vessel(self) -> bool {
        matches!(
            self.kind(),
            MmsiKind::Ship | MmsiKind::AuxiliaryCraft | MmsiKind::Handheld | MmsiKind::Distress
        )
    }

    /// True when the MMSI is syntactically valid (not [`MmsiKind::Invalid`]).
    pub fn is_valid(self) -> bool {
        self.kind() != MmsiKind::Invalid
    }

    /// The Maritime Identification Digits (country), when the pattern carries them.
    pub fn mid(self) -> Option<u16> {
        let n = self.0;
        let mid = match self.kind() {
            MmsiKind::Ship => n / 1_000_000,
            MmsiKind::ShipGroup => n / 100_000,
            MmsiKind::BaseStation => n / 10_000,
            MmsiKind::AidToNavigation | MmsiKind::AuxiliaryCraft => (n / 10_000) % 1_000,
            MmsiKind::SarAircraft => (n / 1_000) % 1_000,
            MmsiKind::Handheld => (n / 100_000) % 1_000,
            MmsiKind::Distress | MmsiKind::Invalid => return None,
        };
        u16::try_from(mid).ok()
    }
}

impl fmt::Display for Mmsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:09}", self.0)
    }
}

impl From<u32> for Mmsi {
    fn from(n: u32) -> Self {
        Self(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let cases = [
            (366_053_209, MmsiKind::Ship),
            (2_311_200, MmsiKind::BaseStation),
            (992_351_000, MmsiKind::AidToNavigation),
            (111_232_511, MmsiKind::SarAircraft),
            (982_191_234, MmsiKind::AuxiliaryCraft),
            (970_123_456, MmsiKind::Distress),
            (23_112_345, MmsiKind::ShipGroup),
            (0, MmsiKind::Invalid),
            (999_999_999, MmsiKind::Invalid),
            (111_111_111, MmsiKind::Invalid),
            (123_456_789, MmsiKind::Invalid),
            (1_000_000_000, MmsiKind::Invalid),
        ];
        for (n, kind) in cases {
            assert_eq!(Mmsi(n).kind(), kind, "{n}");
        }
        assert!(Mmsi(366_053_209).is_vessel());
        assert!(!Mmsi(2_311_200).is_vessel());
        assert_eq!(Mmsi(366_053_209).mid(), Some(366));
        assert_eq!(Mmsi(2_311_200).mid(), Some(231));
    }
}
