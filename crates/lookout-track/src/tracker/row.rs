//! Version 3 vessel checkpoint rows: a compact text form, written and read without serde.
//!
//! Nearly every accepted position changes its vessel's row (`last_seen`, position, duplicate
//! history), so a shard writes about one row per report. As version 2 JSON (maps of string
//! keys, RFC 3339 timestamps, decimal fingerprints, ~325 bytes) a row cost three times the
//! report itself. Version 3 says the same in well under half the bytes, gathered on the
//! stack and allocated once: every number in hex (integer milliseconds; the other times as
//! differences from `last_seen`, mostly `0`; coordinates as their IEEE bits, so exact), area
//! ids length-prefixed.
//!
//! ```text
//! 3|last_seen|static_at|position|candidate|gap_base|recent|areas|static
//! ```
//! - Numbers are lowercase hex without leading zeros, of the value's 64 bits (an `i64` as
//!   two's complement), so any value comes back exactly. `fix` and fingerprints are 16 digits.
//! - `last_seen`: milliseconds since the epoch. Every other time `t` is written as
//!   `last_seen - t` (wrapping); an empty field is "none".
//! - `position`, `candidate`: 16 digits of `lat.to_bits()`, 16 of `lon.to_bits()`, then
//!   the time difference.
//! - `recent`: newest first, `,`-separated: 16 digits of the fingerprint, then its time
//!   difference.
//! - `areas`: `;`-separated members `LEN:ID,RAW,INSIDE,PENDING,GAPS`: `RAW` `0`/`1`;
//!   `INSIDE` `*` (confirmed for every dwell) or the `+`-separated dwells (ms) it is confirmed
//!   for; `PENDING` the time difference of `pending_since`; `GAPS` the `+`-separated gap
//!   thresholds (ms) started and not ended. Areas by id and dwells and thresholds by length,
//!   so a row survives areas and rules changing, as version 2 rows do.
//! - `static`: empty, or `NAME,CALLSIGN,IMO,SHIP_TYPE,DIMENSIONS,DESTINATION` with strings
//!   as `LEN:TEXT` (empty: none) and dimensions as four `+`-separated numbers.
//!
//! A string's length is its byte count, so no content needs escaping.

use lookout_core::VesselStatic;

use super::policy::Resolved;
use super::state::RowError;
use super::vessel::{DUP_HISTORY, Member, Vessel};
use crate::areas::AreaIndex;

/// The version this module writes (the row's first field).
pub(super) const VERSION: u64 = 3;

/// The 16 lowercase hex digits of `n`, most significant first: each nibble spread to a
/// byte, then `0`..`9` / `a`..`f` added to eight at once.
fn hex16(n: u64) -> [u8; 16] {
    fn hex8(x: u32) -> u64 {
        let mut x = u64::from(x);
        x = ((x & 0xFFFF_0000) << 16) | (x & 0xFFFF);
        x = ((x & 0x0000_FF00_0000_FF00) << 8) | (x & 0x0000_00FF_0000_00FF);
        x = ((x & 0x00F0_00F0_00F0_00F0) << 4) | (x & 0x000F_000F_000F_000F);
        let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        x + 0x3030_3030_3030_3030 + letters * 0x27
    }
    (u128::from(hex8((n >> 32) as u32)) << 64 | u128::from(hex8(n as u32))).to_be_bytes()
}

/// The version 3 row of `v`.
pub(super) fn write(areas: &AreaIndex, policies: &[Resolved], v: &Vessel) -> String {
    let mut w = Writer {
        spill: Vec::new(),
        buf: [0; CAP],
        len: 0,
    };
    // The head has a bounded length: written without room checks.
    w.put(b"3|");
    let base = v.last_seen;
    w.put_num(base as u64);
    w.put(b"|");
    if v.static_at != i64::MIN {
        w.put_time(base, v.static_at);
    }
    w.put(b"|");
    if v.has_pos {
        w.put_fix(base, v.lat, v.lon, v.pos_at);
    }
    w.put(b"|");
    if v.cand_at != i64::MIN {
        w.put_fix(base, v.cand_lat, v.cand_lon, v.cand_at);
    }
    w.put(b"|");
    if v.gap_base != i64::MIN {
        w.put_time(base, v.gap_base);
    }
    w.put(b"|");
    let mut first = true;
    for (fp, at) in v.recent.iter().filter(|(fp, _)| *fp != 0) {
        if !first {
            w.put(b",");
        }
        first = false;
        w.put(&hex16(*fp));
        w.put_time(base, *at);
    }
    w.put(b"|");
    let mut first = true;
    for m in &v.members {
        let Some(area) = areas.area(m.area) else {
            continue;
        };
        let policy = &policies[m.area as usize];
        w.room(2 * NUM_MAX_LEN);
        if !first {
            w.put(b";");
        }
        first = false;
        w.string(&area.id);
        w.room(NUM_MAX_LEN + 8);
        w.put(if m.raw { b",1," } else { b",0," });
        if m.inside == policy.all_inside() {
            w.put(b"*");
        } else {
            w.bits(&policy.dwells_ms, m.inside);
        }
        w.room(NUM_MAX_LEN + 2);
        w.put(b",");
        w.put_time(base, m.pending_since);
        w.put(b",");
        w.bits(&policy.gaps_ms, m.gaps_fired);
    }
    w.room(1);
    w.put(b"|");
    if let Some(statics) = v.statics.as_deref() {
        w.statics(statics);
    }
    w.finish()
}

/// Room a number needs in the buffer (it is written 16 digits wide, then cut).
const NUM_MAX_LEN: usize = 16;

/// Longest head: everything before the areas.
const HEAD_MAX: usize = 2 + NUM_MAX_LEN + 1 // version, last_seen
    + NUM_MAX_LEN + 1 // static_at
    + 2 * (32 + NUM_MAX_LEN + 1) // position, candidate
    + NUM_MAX_LEN + 1 // gap_base
    + DUP_HISTORY * (16 + NUM_MAX_LEN + 1); // recent

/// Bytes gathered on the stack: a row is allocated once, at its length.
const CAP: usize = 320;
const _: () = assert!(HEAD_MAX <= CAP);

struct Writer {
    /// What did not fit in `buf` (rows with many areas or long ids).
    spill: Vec<u8>,
    buf: [u8; CAP],
    len: usize,
}

impl Writer {
    fn finish(mut self) -> String {
        if self.spill.is_empty() {
            // Only ASCII and the bytes of whole `str`s were written: always UTF-8.
            return std::str::from_utf8(&self.buf[..self.len])
                .map(String::from)
                .unwrap_or_default();
        }
        self.flush();
        String::from_utf8(self.spill).unwrap_or_default()
    }

    fn flush(&mut self) {
        self.spill.extend_from_slice(&self.buf[..self.len]);
        self.len = 0;
    }

    /// Makes room for `n <= CAP` bytes.
    fn room(&mut self, n: usize) {
        if self.len + n > CAP {
            self.flush();
        }
    }

    /// Appends `s` (room made by the caller).
    fn put(&mut self, s: &[u8]) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    /// Appends `n` in hex without leading zeros (room for [`NUM_MAX_LEN`] made by the caller):
    /// shifted so that its digits come first, written 16 wide, the rest cut.
    fn put_num(&mut self, n: u64) {
        if n < 16 {
            self.buf[self.len] = if n < 10 { b'0' } else { b'a' - 10 } + n as u8;
            self.len += 1;
            return;
        }
        let n_digits = ((64 - n.leading_zeros() as usize).div_ceil(4)).max(1);
        self.buf[self.len..self.len + 16].copy_from_slice(&hex16(n << (64 - 4 * n_digits)));
        self.len += n_digits;
    }

    /// The time `at` as its difference from `base`.
    fn put_time(&mut self, base: i64, at: i64) {
        self.put_num(base.wrapping_sub(at) as u64);
    }

    fn put_fix(&mut self, base: i64, lat: f64, lon: f64, at: i64) {
        self.put(&hex16(lat.to_bits()));
        self.put(&hex16(lon.to_bits()));
        self.put_time(base, at);
    }

    fn bytes(&mut self, s: &[u8]) {
        if s.len() > CAP {
            self.flush();
            self.spill.extend_from_slice(s);
            return;
        }
        self.room(s.len());
        self.put(s);
    }

    fn num(&mut self, n: u64) {
        self.room(NUM_MAX_LEN);
        self.put_num(n);
    }

    /// The values of `values` whose bit is set in `mask`, `+`-separated.
    fn bits(&mut self, values: &[i64], mask: u8) {
        let mut first = true;
        for (bit, value) in values.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                self.room(NUM_MAX_LEN + 1);
                if !first {
                    self.put(b"+");
                }
                first = false;
                self.put_num(*value as u64);
            }
        }
    }

    /// `LEN:TEXT`.
    fn string(&mut self, s: &str) {
        self.room(NUM_MAX_LEN + 1);
        self.put_num(s.len() as u64);
        self.put(b":");
        self.bytes(s.as_bytes());
    }

    fn opt_string(&mut self, s: Option<&str>) {
        if let Some(s) = s {
            self.string(s);
        }
    }

    fn opt_num(&mut self, n: Option<impl Into<u64>>) {
        if let Some(n) = n {
            self.num(n.into());
        }
    }

    fn sep(&mut self) {
        self.room(1);
        self.put(b",");
    }

    fn statics(&mut self, statics: &VesselStatic) {
        // Every field, by name: a field added to `VesselStatic` fails to compile here.
        let VesselStatic {
            name,
            callsign,
            imo,
            ship_type,
            dimensions,
            destination,
        } = statics;
        self.opt_string(name.as_deref());
        self.sep();
        self.opt_string(callsign.as_deref());
        self.sep();
        self.opt_num(*imo);
        self.sep();
        self.opt_num(*ship_type);
        self.sep();
        if let Some(dims) = dimensions {
            for (i, d) in dims.iter().enumerate() {
                if i > 0 {
                    self.room(1);
                    self.put(b"+");
                }
                self.num(u64::from(*d));
            }
        }
        self.sep();
        self.opt_string(destination.as_deref());
    }
}

/// Reads a version 3 row (after its `3|`, at byte `start` of `row`): the vessel and the
/// number of memberships dropped because their area no longer exists.
pub(super) fn read(
    areas: &AreaIndex,
    policies: &[Resolved],
    row: &str,
    start: usize,
) -> Result<(Vessel, usize), RowError> {
    let mut c = Cursor { row, pos: start };
    let mut v = Vessel::new();
    let base = c.int(b'|', "last_seen")? as i64;
    let at = |delta: u64| base.wrapping_sub(delta as i64);
    v.last_seen = base;
    if let Some(d) = c.opt_int(b'|', "static_at")? {
        v.static_at = at(d);
    }
    if let Some((lat, lon, d)) = c.opt_fix(b'|', "position")? {
        v.has_pos = true;
        (v.lat, v.lon, v.pos_at) = (lat, lon, at(d));
    }
    if let Some((lat, lon, d)) = c.opt_fix(b'|', "candidate")? {
        (v.cand_lat, v.cand_lon, v.cand_at) = (lat, lon, at(d));
    }
    if let Some(d) = c.opt_int(b'|', "gap_base")? {
        v.gap_base = at(d);
    }
    let mut recent = Vec::with_capacity(DUP_HISTORY);
    while !c.eat(b'|') {
        if !recent.is_empty() {
            c.expect(b',', "',' between recent reports")?;
        }
        let fp = c.hex("a fingerprint")?;
        let d = c.int_until(b",|", "a recent report's time")?;
        recent.push((fp, at(d)));
    }
    for (fp, at) in recent.into_iter().take(DUP_HISTORY).rev() {
        v.remember(fp, at);
    }
    let mut dropped = 0;
    let mut first = true;
    while !c.eat(b'|') {
        if !first {
            c.expect(b';', "';' between areas")?;
        }
        first = false;
        let id = c.string("an area id")?;
        c.expect(b',', "',' after the area id")?;
        let raw = match c.next() {
            Some(b'0') => false,
            Some(b'1') => true,
            _ => return Err(c.malformed("raw 0 or 1")),
        };
        c.expect(b',', "',' after raw")?;
        let area = areas.find(id);
        let policy = area.map(|a| &policies[a as usize]);
        let inside = if c.eat(b'*') {
            policy.map_or(0, Resolved::all_inside)
        } else {
            let dwells = c.list_until(b",", "dwells")?;
            policy.map_or(0, |p| mask(&p.dwells_ms, &dwells))
        };
        c.expect(b',', "',' after the dwells")?;
        let pending = c.int(b',', "pending_since")?;
        let gaps = c.list_until(b";|", "gap thresholds")?;
        let (Some(area), Some(policy)) = (area, policy) else {
            dropped += 1;
            continue;
        };
        let member = Member {
            area,
            inside,
            raw,
            gaps_fired: mask(&policy.gaps_ms, &gaps),
            pending_since: at(pending),
        };
        if !member.idle() {
            v.members.push(member);
        }
    }
    v.members.sort_by_key(|m| m.area);
    if c.pos < row.len() {
        v.statics = Some(Box::new(read_static(&mut c)?));
    }
    Ok((v, dropped))
}

fn read_static(c: &mut Cursor<'_>) -> Result<VesselStatic, RowError> {
    let name = c.opt_string("a name")?;
    c.expect(b',', "',' after the name")?;
    let callsign = c.opt_string("a call sign")?;
    c.expect(b',', "',' after the call sign")?;
    let imo = c
        .opt_int(b',', "imo")?
        .map(u32::try_from)
        .transpose()
        .map_err(|_| c.malformed("an imo number below 2^32"))?;
    let ship_type = c
        .opt_int(b',', "ship_type")?
        .map(u8::try_from)
        .transpose()
        .map_err(|_| c.malformed("a ship type below 256"))?;
    let dimensions = if c.eat(b',') {
        None
    } else {
        let dims = c.list(b',', "dimensions")?;
        let dims: Vec<u16> = dims
            .iter()
            .map(|d| u16::try_from(*d))
            .collect::<Result<_, _>>()
            .map_err(|_| c.malformed("dimensions below 65536"))?;
        Some(<[u16; 4]>::try_from(dims).map_err(|_| c.malformed("four dimensions"))?)
    };
    let destination = c.opt_string("a destination")?;
    if c.pos != c.row.len() {
        return Err(c.malformed("the end of the row"));
    }
    Ok(VesselStatic {
        name,
        callsign,
        imo,
        ship_type,
        dimensions,
        destination,
    })
}

/// The bits of `values` that `wanted` names (values no longer configured are dropped).
fn mask(values: &[i64], wanted: &[u64]) -> u8 {
    wanted.iter().fold(0u8, |bits, w| {
        match values.iter().position(|v| *v as u64 == *w) {
            Some(bit) => bits | (1 << bit),
            None => bits,
        }
    })
}

/// Lowercase hex digits (at most 16, at least one) as a number.
fn parse_hex(digits: &str) -> Option<u64> {
    if digits.is_empty()
        || digits.len() > 16
        || !digits
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

struct Cursor<'a> {
    row: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn malformed(&self, expected: &'static str) -> RowError {
        RowError::Malformed {
            at: self.pos,
            expected,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.row.as_bytes().get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// Consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, b: u8, expected: &'static str) -> Result<(), RowError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.malformed(expected))
        }
    }

    /// The text up to (not including) the first of `ends` or the end of the row.
    fn token(&mut self, ends: &[u8]) -> &'a str {
        let row: &'a str = self.row;
        let rest = &row.as_bytes()[self.pos..];
        let len = rest
            .iter()
            .position(|b| ends.contains(b))
            .unwrap_or(rest.len());
        let token = row.get(self.pos..self.pos + len).unwrap_or("");
        self.pos += len;
        token
    }

    /// A hex number up to one of `ends` (not consumed).
    fn int_until(&mut self, ends: &[u8], expected: &'static str) -> Result<u64, RowError> {
        let start = self.pos;
        parse_hex(self.token(ends)).ok_or(RowError::Malformed {
            at: start,
            expected,
        })
    }

    /// A hex number followed by `end` (consumed).
    fn int(&mut self, end: u8, expected: &'static str) -> Result<u64, RowError> {
        let n = self.int_until(&[end], expected)?;
        self.expect(end, expected)?;
        Ok(n)
    }

    /// An optional hex number (empty: none) followed by `end` (consumed).
    fn opt_int(&mut self, end: u8, expected: &'static str) -> Result<Option<u64>, RowError> {
        if self.eat(end) {
            return Ok(None);
        }
        self.int(end, expected).map(Some)
    }

    fn hex(&mut self, expected: &'static str) -> Result<u64, RowError> {
        let digits = self
            .row
            .get(self.pos..self.pos + 16)
            .ok_or_else(|| self.malformed(expected))?;
        let n = parse_hex(digits).ok_or_else(|| self.malformed(expected))?;
        self.pos += 16;
        Ok(n)
    }

    /// An optional fix (empty: none) followed by `end` (consumed).
    fn opt_fix(
        &mut self,
        end: u8,
        expected: &'static str,
    ) -> Result<Option<(f64, f64, u64)>, RowError> {
        if self.eat(end) {
            return Ok(None);
        }
        let lat = f64::from_bits(self.hex(expected)?);
        let lon = f64::from_bits(self.hex(expected)?);
        let delta = self.int(end, expected)?;
        Ok(Some((lat, lon, delta)))
    }

    /// `+`-separated numbers up to one of `ends` (not consumed); empty: none.
    fn list_until(&mut self, ends: &[u8], expected: &'static str) -> Result<Vec<u64>, RowError> {
        let start = self.pos;
        let token = self.token(ends);
        if token.is_empty() {
            return Ok(Vec::new());
        }
        token
            .split('+')
            .map(parse_hex)
            .collect::<Option<_>>()
            .ok_or(RowError::Malformed {
                at: start,
                expected,
            })
    }

    /// [`Cursor::list_until`] `end`, then `end` is consumed.
    fn list(&mut self, end: u8, expected: &'static str) -> Result<Vec<u64>, RowError> {
        let list = self.list_until(&[end], expected)?;
        self.expect(end, expected)?;
        Ok(list)
    }

    /// `LEN:TEXT`.
    fn string(&mut self, expected: &'static str) -> Result<&'a str, RowError> {
        let len =
            usize::try_from(self.int(b':', expected)?).map_err(|_| self.malformed(expected))?;
        let row: &'a str = self.row;
        let text = row
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or_else(|| self.malformed(expected))?;
        self.pos += len;
        Ok(text)
    }

    /// `LEN:TEXT`, or nothing (none) when the next byte is `,` or the end.
    fn opt_string(&mut self, expected: &'static str) -> Result<Option<String>, RowError> {
        match self.peek() {
            None | Some(b',') => Ok(None),
            Some(_) => self.string(expected).map(|s| Some(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::areas::Area;
    use crate::tracker::policy::{self, AreaPolicy, TrackerConfig};
    use crate::tracker::state;

    fn areas() -> AreaIndex {
        AreaIndex::new(vec![
            Area::circle("bay", "Bay", 0.0, 0.0, 5.0),
            Area::circle("a|b;c,d:1", "Odd id", 1.0, 1.0, 5.0),
            Area::circle("Øresund", "Øresund", 55.6, 12.7, 5.0),
        ])
        .unwrap()
    }

    fn policies(areas: &AreaIndex) -> Vec<Resolved> {
        let mut config = TrackerConfig {
            default_policy: AreaPolicy {
                min_dwell: Duration::ZERO,
                gap_thresholds: vec![Duration::from_millis(500), Duration::from_secs(3600)],
            },
            ..TrackerConfig::default()
        };
        config.area_dwells.insert(
            "bay".into(),
            vec![
                Duration::ZERO,
                Duration::from_secs(600),
                Duration::from_secs(1800),
            ],
        );
        policy::resolve(&config, areas).unwrap()
    }

    fn time() -> impl Strategy<Value = i64> {
        prop_oneof![
            1 => Just(i64::MIN),
            1 => Just(i64::MAX),
            1 => Just(0i64),
            1 => -1_000_000_000i64..1_000_000_000,
            6 => 1_700_000_000_000i64..1_800_000_000_000,
        ]
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        prop::option::of("[A-Z0-9 @,:;|+\\-Ø\"\\\\]{0,20}")
    }

    prop_compose! {
        fn statics()(
            name in text(),
            callsign in text(),
            imo in prop::option::of(any::<u32>()),
            ship_type in prop::option::of(any::<u8>()),
            dimensions in prop::option::of(any::<[u16; 4]>()),
            destination in text(),
        ) -> VesselStatic {
            VesselStatic { name, callsign, imo, ship_type, dimensions, destination }
        }
    }

    prop_compose! {
        fn member()(
            area in 0u32..3,
            inside in any::<u8>(),
            raw in any::<bool>(),
            gaps_fired in 0u8..4,
            pending_since in time(),
        ) -> Member {
            let inside = if area == 0 { inside & 0b111 } else { inside & 1 };
            Member { area, inside, raw, gaps_fired, pending_since }
        }
    }

    prop_compose! {
        fn vessel()(
            last_seen in time(),
            static_at in time(),
            pos in prop::option::of((-90.0f64..90.0, -180.0f64..180.0, time())),
            cand in prop::option::of((-90.0f64..90.0, -180.0f64..180.0, time())),
            recent in prop::collection::vec((any::<u64>(), time()), 0..=DUP_HISTORY),
            gap_base in time(),
            statics in prop::option::of(statics()),
            members in prop::collection::vec(member(), 0..3),
        ) -> Vessel {
            let mut v = Vessel::new();
            v.last_seen = last_seen;
            v.static_at = static_at;
            if let Some((lat, lon, at)) = pos {
                (v.has_pos, v.lat, v.lon, v.pos_at) = (true, lat, lon, at);
            }
            if let Some((lat, lon, at)) = cand {
                (v.cand_lat, v.cand_lon, v.cand_at) = (lat, lon, at.max(i64::MIN + 1));
            }
            for (fp, at) in recent.into_iter().rev() {
                v.remember(fp.max(1), at);
            }
            v.gap_base = gap_base;
            v.statics = statics.map(Box::new);
            let mut members: Vec<Member> = members.into_iter().filter(|m| !m.idle()).collect();
            members.sort_by_key(|m| m.area);
            members.dedup_by_key(|m| m.area);
            v.members = members;
            v
        }
    }

    proptest! {
        #[test]
        fn a_row_reads_back_as_the_vessel_that_wrote_it(v in vessel()) {
            let areas = areas();
            let policies = policies(&areas);
            let row = write(&areas, &policies, &v);
            prop_assert!(row.starts_with("3|"));
            let (back, dropped) = read(&areas, &policies, &row, 2).unwrap();
            prop_assert_eq!(dropped, 0);
            prop_assert_eq!(format!("{back:?}"), format!("{v:?}"), "row {}", row);
        }

        #[test]
        fn a_truncated_or_altered_row_is_an_error_not_a_panic(
            v in vessel(),
            cut in 0usize..400,
            byte in any::<u8>(),
        ) {
            let areas = areas();
            let policies = policies(&areas);
            let row = write(&areas, &policies, &v);
            if let Some(prefix) = row.get(..cut.min(row.len())) {
                let _ = read(&areas, &policies, prefix, 2.min(prefix.len()));
            }
            let mut bytes = row.into_bytes();
            if let Some(b) = bytes.get_mut(cut) {
                *b = byte;
            }
            if let Ok(altered) = String::from_utf8(bytes) {
                let _ = read(&areas, &policies, &altered, 2);
            }
        }
    }

    proptest! {
        /// Rows written before version 3 (JSON, version 2) still restore: the same vessel as
        /// its version 3 row (for the times a version 2 row can hold).
        #[test]
        fn a_version_2_row_reads_as_the_same_vessel_as_its_version_3_row(v in vessel()) {
            let ok = |t: i64| (0..253_402_300_800_000).contains(&t);
            prop_assume!(
                ok(v.last_seen)
                    && (v.static_at == i64::MIN || ok(v.static_at))
                    && (!v.has_pos || ok(v.pos_at))
                    && (v.cand_at == i64::MIN || ok(v.cand_at))
                    && (v.gap_base == i64::MIN || ok(v.gap_base))
                    && v.members.iter().all(|m| ok(m.pending_since))
                    // A gap fired sets the gap base (version 2 rows without one are read as
                    // version 1 rows, whose gaps count from the last position).
                    && (v.gap_base != i64::MIN || v.members.iter().all(|m| m.gaps_fired == 0))
            );
            let areas = areas();
            let policies = policies(&areas);
            let v2 = state::v2_row(&areas, &policies, &v);
            let v3 = write(&areas, &policies, &v);
            // serde_json's default float parser may miss the last bit of a coordinate: a
            // version 2 row was exact to ~1e-14 degrees, version 3 is exact.
            let rounded = |(mut v, dropped): (Vessel, usize)| {
                for x in [&mut v.lat, &mut v.lon, &mut v.cand_lat, &mut v.cand_lon] {
                    *x = (*x * 1e9).round();
                }
                format!("{v:?} {dropped}")
            };
            let from_v2 = rounded(state::load_data(&areas, &policies, &v2).unwrap());
            let from_v3 = rounded(state::load_data(&areas, &policies, &v3).unwrap());
            prop_assert_eq!(from_v2, from_v3, "{}\n{}", v2, v3);
        }
    }

    #[test]
    fn an_unknown_version_is_named_not_guessed() {
        let areas = areas();
        let policies = policies(&areas);
        let err = state::load_data(&areas, &policies, "4|19b76dc2ea0||||||").unwrap_err();
        assert!(
            matches!(err, RowError::UnknownVersion { version: 4 }),
            "{err}"
        );
        assert!(err.to_string().contains("newer lookout"), "{err}");
        let err = state::load_data(&areas, &policies, "x").unwrap_err();
        assert!(matches!(err, RowError::Malformed { .. }), "{err}");
    }

    #[test]
    fn numbers_are_hex_without_leading_zeros() {
        for n in [0u64, 9, 10, 15, 16, 255, 0x2710, 0x019b_76dc_2ea0, u64::MAX] {
            let mut w = Writer {
                spill: Vec::new(),
                buf: [0; CAP],
                len: 0,
            };
            w.put_num(n);
            assert_eq!(w.finish(), format!("{n:x}"));
        }
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
    }

    #[test]
    fn a_row_longer_than_the_stack_buffer_spills_whole() {
        let long = "x".repeat(700);
        let areas = AreaIndex::new(vec![
            Area::circle(long.clone(), "Long", 0.0, 0.0, 5.0),
            Area::circle(format!("{long}2"), "Long 2", 0.0, 0.0, 5.0),
        ])
        .unwrap();
        let policies = policy::resolve(&TrackerConfig::default(), &areas).unwrap();
        let mut v = Vessel::new();
        v.last_seen = 1_767_225_600_000;
        v.members = (0..2)
            .map(|area| Member {
                area,
                inside: 1,
                raw: true,
                gaps_fired: 0,
                pending_since: 1_767_225_600_000,
            })
            .collect();
        let row = write(&areas, &policies, &v);
        assert!(row.contains(&format!("2bd:{long}2,")), "{row}");
        let (back, _) = read(&areas, &policies, &row, 2).unwrap();
        assert_eq!(format!("{back:?}"), format!("{v:?}"));
    }
}
