//! `lookout replay`: decode recorded AIS and run it through one tracker, writing events as JSON
//! lines to stdout.
//!
//! Replay is a batch tool, so it runs synchronously on one tracker: the output order is the
//! input order and the same files always give the same lines. Time is the recording's own
//! (tag-block `c:` or `$PGHP`), so gaps and dwell times mean what they meant when it was
//! recorded; an untagged line takes the last receiver time seen (a fixed epoch,
//! 2000-01-01T00:00:00Z, before any), never the wall clock. Gaps still open at the end of the
//! input are not reported (the recording does not say whether the vessel came back).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jiff::Timestamp;
use lookout_core::ClockMode;
use lookout_core::Event;
use lookout_feed::adapter::{self, Adapted, EventClock};
use lookout_track::tracker::{AreaPolicy, Tracker, TrackerConfig, TrackerStats};

use crate::args::parse_duration;
use crate::error::UsageError;
use crate::setup;

/// `lookout replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Recorded AIS files, replayed in order.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// GeoJSON file of areas.
    #[arg(long)]
    pub areas: std::path::PathBuf,
    /// Emit `gap_started` after this much silence inside an area (e.g. `30m`, `6h`).
    #[arg(long, value_parser = parse_duration)]
    pub gap: Option<Duration>,
    /// A vessel must stay inside (outside) this long before `entered` (`exited`) is emitted.
    #[arg(long, value_parser = parse_duration)]
    pub min_dwell: Option<Duration>,
    /// Replay speed: `max` (as fast as possible) or a factor such as `10x`.
    #[arg(long, default_value = "max")]
    pub speed: String,
}

/// Counters of one replay, printed as the summary.
#[derive(Debug, Default, Clone)]
pub struct ReplaySummary {
    /// Decoder counters summed over the files.
    pub lines: u64,
    /// NMEA sentences framed.
    pub sentences: u64,
    /// Messages decoded.
    pub messages: u64,
    /// Decode errors by kind.
    pub errors: HashMap<&'static str, u64>,
    /// Base stations and aids to navigation (never vessels).
    pub not_vessels: u64,
    /// Tracker counters.
    pub tracker: TrackerStats,
    /// Vessels tracked.
    pub vessels: usize,
    /// Events written.
    pub events: u64,
}

/// Parses `max` or `10x` / `10`.
pub fn parse_speed(s: &str) -> Result<Option<f64>, UsageError> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(None);
    }
    let n = s.strip_suffix(['x', 'X']).unwrap_or(s);
    match n.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Some(f)),
        _ => Err(UsageError(format!(
            "invalid --speed {s:?}: use `max` or a positive factor such as `10x`"
        ))),
    }
}

/// Runs `lookout replay`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let speed = parse_speed(&args.speed)?;
    let areas = Arc::new(setup::load_areas(&args.areas)?);
    let policy = AreaPolicy {
        min_dwell: args.min_dwell.unwrap_or_default(),
        gap_thresholds: args.gap.into_iter().collect(),
    };
    let config = TrackerConfig {
        default_policy: policy,
        ..TrackerConfig::default()
    };
    let mut tracker = Tracker::new(areas, config).map_err(|e| UsageError(e.to_string()))?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let progress = progress_bar(&args.files);
    let mut summary = ReplaySummary::default();
    // One data clock over all files: an untagged file after a tagged one continues its time.
    let mut clock = EventClock::new(ClockMode::Data);
    for path in &args.files {
        replay_file(
            path,
            &mut tracker,
            &mut clock,
            speed,
            &mut out,
            &mut summary,
            progress.as_ref(),
        )?;
    }
    out.flush().context("cannot write to stdout")?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    summary.tracker = tracker.stats();
    summary.vessels = tracker.n_vessels();
    let mut err = io::stderr().lock();
    // A failing stderr cannot be reported anywhere else.
    let _ = writeln!(err, "{}", format_summary(&summary));
    Ok(ExitCode::SUCCESS)
}

/// A progress bar over the total size of `files` (bytes read, rate and time left), on stderr
/// when it is a terminal; `None` otherwise. [`replay_file`] advances it by each line's offset.
fn progress_bar(files: &[std::path::PathBuf]) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = files
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum();
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let bar = indicatif::ProgressBar::new(total).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// Replays one file into `tracker`, timed by `clock` (a data clock), writing events to `out`.
pub fn replay_file(
    path: &Path,
    tracker: &mut Tracker,
    clock: &mut EventClock,
    speed: Option<f64>,
    out: &mut impl Write,
    summary: &mut ReplaySummary,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // Progress: bytes of earlier files plus this file's offset.
    let progress_start = progress.map_or(0, indicatif::ProgressBar::position);
    let file_len = file.metadata().map_or(0, |m| m.len());
    let mut lines = ais::read::Lines::new(
        BufReader::with_capacity(64 * 1024, file),
        ais::Decoder::new(),
    );
    let mut events: Vec<Event> = Vec::new();
    let mut pace: Option<(Timestamp, Instant)> = None;
    let mut json = Vec::with_capacity(512);
    for item in lines.by_ref() {
        let (meta, result) = item.with_context(|| format!("cannot read {}", path.display()))?;
        let msg = match result {
            Ok(msg) => msg,
            Err(e) => {
                *summary.errors.entry(e.kind()).or_default() += 1;
                continue;
            }
        };
        let at = clock.time(&meta, adapter::DATA_EPOCH).at;
        let observations = match adapter::adapt_at(&msg, at) {
            Adapted::One(o) => [Some(o), None],
            Adapted::Two(a, b) => [Some(a), Some(b)],
            Adapted::BaseStation | Adapted::AidToNavigation => {
                summary.not_vessels += 1;
                continue;
            }
            Adapted::Skipped(_) => continue,
        };
        for obs in observations.into_iter().flatten() {
            if let Some(factor) = speed {
                wait_for(&mut pace, obs.at, factor);
            }
            tracker.observe_into(&obs, &mut events);
            for event in events.drain(..) {
                json.clear();
                serde_json::to_writer(&mut json, &event).context("cannot serialise an event")?;
                json.push(b'\n');
                out.write_all(&json).context("cannot write to stdout")?;
                summary.events += 1;
            }
        }
        if let Some(bar) = progress
            && meta.line % 1024 == 0
        {
            bar.set_position(progress_start.saturating_add(meta.offset));
            bar.set_message(format!(
                "{}: line {}, {} events",
                path.display(),
                meta.line,
                summary.events
            ));
        }
    }
    if let Some(bar) = progress {
        bar.set_position(progress_start.saturating_add(file_len));
    }
    let stats = lines.decoder().stats();
    summary.lines += stats.lines;
    summary.sentences += stats.sentences;
    summary.messages += stats.messages;
    Ok(())
}

/// Sleeps so that recording time advances `factor` times faster than wall time.
fn wait_for(pace: &mut Option<(Timestamp, Instant)>, at: Timestamp, factor: f64) {
    let (t0, w0) = *pace.get_or_insert((at, Instant::now()));
    let recorded = at.as_millisecond().saturating_sub(t0.as_millisecond());
    if recorded <= 0 {
        return;
    }
    #[allow(clippy::cast_precision_loss)]
    let due = Duration::from_secs_f64(recorded as f64 / 1000.0 / factor);
    if let Some(wait) = due.checked_sub(w0.elapsed()) {
        std::thread::sleep(wait);
    }
}

/// The one-line summary printed on stderr.
pub fn format_summary(s: &ReplaySummary) -> String {
    let mut errors: Vec<_> = s.errors.iter().collect();
    errors.sort();
    let errors = errors
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let t = &s.tracker;
    format!(
        "replay: {lines} lines, {sentences} sentences, {messages} messages, {vessels} vessels, \
         {events} events (entered={en} exited={ex} gap_started={gs} gap_ended={ge}); \
         decode errors: [{errors}]; ignored: stale={stale} duplicate={dup} not_a_vessel={nv} \
         missing_position={miss} null_island={null} out_of_range={oor} too_fast={fast} \
         unconfirmed={unconfirmed} clock_skew={skew}",
        lines = s.lines,
        sentences = s.sentences,
        messages = s.messages,
        vessels = s.vessels,
        events = s.events,
        en = t.entered,
        ex = t.exited,
        gs = t.gap_started,
        ge = t.gap_ended,
        stale = t.stale,
        dup = t.duplicates,
        nv = t.not_a_vessel + s.not_vessels,
        miss = t.unusable_missing,
        null = t.unusable_null_island,
        oor = t.unusable_out_of_range,
        fast = t.unusable_too_fast,
        unconfirmed = t.unconfirmed,
        skew = t.clock_skew,
    )
}
