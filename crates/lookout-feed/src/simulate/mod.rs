//! The traffic simulator behind `lookout simulate`: realistic AIS traffic around New Zealand,
//! deterministic for a seed, encoded with the `ais` encoder, with tag-block timestamps.
//!
//! ```
//! use lookout_feed::simulate::{SimConfig, Simulation};
//!
//! let config = SimConfig { vessels: 5, hours: 0.1, ..SimConfig::default() };
//! let lines: Vec<String> = Simulation::new(&config).unwrap().map(|r| r.text).collect();
//! // The first record is the first vessel's type 5: a two-sentence group, each with a tag
//! // block carrying the group, the source and the time (2026-01-01T00:00:00Z).
//! assert!(lines[0].starts_with("\\g:1-2-1,s:lookout-sim,c:1767225600*"));
//! // Same seed, same bytes.
//! let again: Vec<String> = Simulation::new(&config).unwrap().map(|r| r.text).collect();
//! assert_eq!(lines, again);
//! ```
//!
//! # The `nz` scenario
//! Vessels sail great-circle legs along the sea lanes of a small chart of New Zealand ports and
//! waypoints (`scenario.rs`): traders between ports (2–10 h alongside), Waiheke and Cook Strait
//! ferries (crossing the example areas' boundaries on every trip), Class B pleasure boats in the
//! Hauraki Gulf, and fishing boats that fish inside the example areas, where about a third of
//! them switch their transponder off for 1–5 hours and then reappear.
//!
//! Report intervals follow ITU-R M.1371: Class A every 10 s under way (6 s above 14 kn, 2 s
//! above 23 kn), 3 min at anchor or moored; Class B every 30 s, 3 min when stationary. Static
//! data every 6 min: type 5 for Class A, 24A and 24B for Class B.
//!
//! # The demo guarantee
//! Every run starts with three scripted vessels (MMSI 512900001–512900003), so the events the
//! demo shows happen within minutes of simulated time, whatever the seed:
//! - `WAIHEKE FLYER` (512900001) starts 0.6 nm outside the Hauraki Gulf and **enters** it about
//!   2 min in, then shuttles Auckland–Matiatia, crossing the edge on every trip.
//! - `STRAIT RUNNER` (512900002) starts inside Cook Strait and **exits** it about 3 min in, then
//!   shuttles Wellington–Picton, entering and exiting on every crossing.
//! - `MOANA ROA` (512900003) fishes inside the Hauraki Gulf, **goes dark** 5 min in for 2 h,
//!   then reappears in place: a gap longer than any threshold up to 2 h.
//!
//! At [`ServeConfig::rate`] 60 (one simulated minute per second) a tracker with a gap threshold
//! of 10 min therefore sees entered (~3 s), exited (~3 s) and gap_started (~15 s of wall time).
//!
//! # Time
//! Simulated time starts at [`SimConfig::start`] (fixed by default, so output is reproducible)
//! and each record carries it as a tag block `c:` (Unix seconds). [`serve_tcp`] paces records
//! at `rate` simulated seconds per wall second, by default starting the simulated clock at the
//! wall-clock time of the first connection ([`ServeConfig::live_start`]); [`run_to_file`]
//! writes as fast as it can.

mod geo;
mod scenario;
mod serve;
mod vessel;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use ais::encode::{EncodeOptions, TagBlockOptions};
use jiff::Timestamp;

pub use serve::{ServeConfig, serve_tcp};
use vessel::Vessel;

/// Which world to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scenario {
    /// New Zealand ports and sea lanes, with the areas in `examples/areas/nz.geojson`.
    #[default]
    Nz,
}

impl Scenario {
    /// Parses a scenario name (`nz`).
    pub fn parse(name: &str) -> Option<Scenario> {
        match name {
            "nz" => Some(Scenario::Nz),
            _ => None,
        }
    }

    /// The scenario's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Nz => "nz",
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The world.
    pub scenario: Scenario,
    /// Number of vessels, including the three scripted ones (at most [`SimConfig::MAX_VESSELS`]).
    pub vessels: usize,
    /// Simulated duration in hours.
    pub hours: f64,
    /// PRNG seed: the same seed and config give the same bytes.
    pub seed: u64,
    /// Simulated time of the first record.
    pub start: Timestamp,
    /// The tag block source (`s:`) written on every sentence.
    pub source: String,
}

impl SimConfig {
    /// Most vessels one run can hold (MMSIs stay unique and NZ-flagged).
    pub const MAX_VESSELS: usize = 100_000;

    /// The demo preset: 40 vessels for 6 hours, seed 1 (the demo guarantee holds for any seed).
    pub fn demo() -> SimConfig {
        SimConfig {
            vessels: 40,
            hours: 6.0,
            ..SimConfig::default()
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        if self.vessels == 0 || self.vessels > SimConfig::MAX_VESSELS {
            return Err(SimError::Config(format!(
                "vessels must be between 1 and {}, got {}",
                SimConfig::MAX_VESSELS,
                self.vessels
            )));
        }
        if !self.hours.is_finite() || self.hours <= 0.0 || self.hours > 24.0 * 366.0 {
            return Err(SimError::Config(format!(
                "hours must be a positive number of at most a year, got {}",
                self.hours
            )));
        }
        if self.source.is_empty()
            || self.source.len() > 15
            || !self
                .source
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SimError::Config(format!(
                "source must be 1 to 15 letters, digits, '-' or '_', got {:?}",
                self.source
            )));
        }
        Ok(())
    }
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            scenario: Scenario::Nz,
            vessels: 200,
            hours: 24.0,
            seed: 1,
            // 2026-01-01T00:00:00Z
            start: Timestamp::from_second(1_767_225_600).unwrap_or(Timestamp::UNIX_EPOCH),
            source: "lookout-sim".to_owned(),
        }
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration is invalid.
    #[error("invalid simulation config: {0}")]
    Config(String),
    /// The `ais` encoder rejected a message (a bug in the vessel model).
    #[error("cannot encode a message of vessel {mmsi}: {reason}")]
    Encode {
        /// The vessel.
        mmsi: u32,
        /// What the encoder said.
        reason: String,
    },
    /// Writing the output failed.
    #[error("cannot write simulator output to {target}")]
    Io {
        /// The file or address written to.
        target: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// One AIS message of the simulation: one or more NMEA lines (each ending in `\r\n`).
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    /// Simulated time since the start.
    pub elapsed: Duration,
    /// Simulated time (also in the tag block `c:`).
    pub at: Timestamp,
    /// The sending vessel.
    pub mmsi: u32,
    /// AIS message type (1, 5, 18 or 24).
    pub msg_type: u8,
    /// The lines, each with a tag block and ending in `\r\n`.
    pub text: String,
}

/// What a run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimSummary {
    /// Vessels simulated.
    pub vessels: usize,
    /// Records (AIS messages) produced.
    pub records: u64,
    /// NMEA lines produced.
    pub sentences: u64,
    /// Bytes produced.
    pub bytes: u64,
}

impl SimSummary {
    fn add(&mut self, record: &SimRecord) {
        self.records += 1;
        self.sentences += record.text.matches('\n').count() as u64;
        self.bytes += record.text.len() as u64;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// Static data sorts first, so a vessel's name is known before its first position.
    Static,
    Position,
}

/// The simulation as an iterator of records in time order. Ends after [`SimConfig::hours`]
/// or at the first encoder error (see [`Simulation::error`]).
#[derive(Debug)]
pub struct Simulation {
    vessels: Vec<Vessel>,
    heap: BinaryHeap<Reverse<(i64, Due, usize)>>,
    end_ms: i64,
    start: Timestamp,
    source: String,
    /// Records waiting to be returned (type 24 A and B are two records).
    pending: std::collections::VecDeque<SimRecord>,
    error: Option<SimError>,
    next_group: u32,
}

const STATIC_INTERVAL_MS: i64 = 360_000;

impl Simulation {
    /// Builds the fleet for `config`.
    pub fn new(config: &SimConfig) -> Result<Simulation, SimError> {
        config.validate()?;
        let Scenario::Nz = config.scenario;
        let mut vessels = Vec::with_capacity(config.vessels);
        let mut heap = BinaryHeap::with_capacity(config.vessels * 2);
        for which in 0..config.vessels.min(3) {
            if let Some(v) = Vessel::scripted(config.seed, which) {
                heap.push(Reverse((0, Due::Position, vessels.len())));
                heap.push(Reverse((0, Due::Static, vessels.len())));
                vessels.push(v);
            }
        }
        for idx in vessels.len()..config.vessels {
            let mut v = Vessel::random(config.seed, idx);
            let first_pos = v.offset_ms(v.report_interval_ms());
            let first_static = v.offset_ms(STATIC_INTERVAL_MS);
            heap.push(Reverse((first_pos, Due::Position, idx)));
            heap.push(Reverse((first_static, Due::Static, idx)));
            vessels.push(v);
        }
        Ok(Simulation {
            vessels,
            heap,
            end_ms: (config.hours * 3_600_000.0) as i64,
            start: config.start,
            source: config.source.clone(),
            pending: std::collections::VecDeque::new(),
            error: None,
            next_group: 0,
        })
    }

    /// Number of vessels in the fleet.
    pub fn vessel_count(&self) -> usize {
        self.vessels.len()
    }

    /// The encoder error that ended the iteration early, if any.
    pub fn error(&mut self) -> Option<SimError> {
        self.error.take()
    }

    fn step(&mut self) -> Option<()> {
        let Reverse((t, due, idx)) = self.heap.pop()?;
        if t >= self.end_ms {
            self.heap.clear();
            return None;
        }
        let at = self
            .start
            .checked_add(jiff::SignedDuration::from_millis(t))
            .unwrap_or(self.start);
        let vessel = &mut self.vessels[idx];
        vessel.advance(t);
        let next = match due {
            Due::Position => t + vessel.report_interval_ms(),
            Due::Static => t + STATIC_INTERVAL_MS,
        };
        self.heap.push(Reverse((next, due, idx)));
        if vessel.is_dark(t) {
            return Some(());
        }
        let mmsi = vessel.mmsi;
        let messages = match due {
            Due::Position => vec![encode::position(vessel, t)],
            Due::Static => match encode::statics(vessel) {
                Ok(m) => m,
                Err(reason) => return self.fail(idx, reason),
            },
        };
        let secs = at.as_second();
        for message in messages {
            let mut tag = TagBlockOptions::new()
                .source(self.source.as_str())
                .time(secs);
            let mut options = EncodeOptions::default();
            if message.msg_type() == 5 {
                // Multipart: a fresh group id and sequential id per message.
                self.next_group = self.next_group % 9999 + 1;
                tag = tag.group_id(self.next_group);
                options = options.seq_id((self.next_group % 10) as u8);
            }
            let lines = match ais::encode::encode(&message, &options.tag_block(tag)) {
                Ok(lines) => lines,
                Err(e) => return self.fail(idx, e.to_string()),
            };
            let mut text = String::with_capacity(lines.len() * 110);
            for line in &lines {
                text.push_str(line);
                text.push_str("\r\n");
            }
            self.pending.push_back(SimRecord {
                elapsed: Duration::from_millis(t as u64),
                at,
                mmsi,
                msg_type: message.msg_type(),
                text,
            });
        }
        Some(())
    }
}

impl Simulation {
    fn fail(&mut self, idx: usize, reason: String) -> Option<()> {
        let mmsi = self.vessels.get(idx).map_or(0, |v| v.mmsi);
        self.error = Some(SimError::Encode { mmsi, reason });
        self.heap.clear();
        None
    }
}

impl Iterator for Simulation {
    type Item = SimRecord;

    fn next(&mut self) -> Option<SimRecord> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                return Some(record);
            }
            self.step()?;
        }
    }
}

/// Runs the whole simulation, handing every record to `sink` in time order.
pub fn generate(
    config: &SimConfig,
    mut sink: impl FnMut(&SimRecord) -> std::io::Result<()>,
) -> Result<SimSummary, SimError> {
    let mut sim = Simulation::new(config)?;
    let mut summary = SimSummary {
        vessels: sim.vessel_count(),
        ..SimSummary::default()
    };
    for record in sim.by_ref() {
        summary.add(&record);
        sink(&record).map_err(|source| SimError::Io {
            target: "sink".to_owned(),
            source,
        })?;
    }
    match sim.error() {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Writes the whole simulation to `path` as fast as possible (blocking I/O: call it from
/// `spawn_blocking` inside an async runtime).
pub fn run_to_file(config: &SimConfig, path: &Path) -> Result<SimSummary, SimError> {
    let io_err = |source| SimError::Io {
        target: path.display().to_string(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io_err)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let summary = generate(config, |r| out.write_all(r.text.as_bytes())).map_err(|e| match e {
        SimError::Io { source, .. } => io_err(source),
        other => other,
    })?;
    out.flush().map_err(io_err)?;
    Ok(summary)
}

mod encode;

#[cfg(test)]
mod tests;
