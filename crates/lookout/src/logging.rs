//! Installs the process-wide `tracing` subscriber: filtered by `LOOKOUT_LOG` (default `info`),
//! formatted as `plain` text or `json` lines, with ANSI colours only when stderr is a terminal
//! (and `NO_COLOR` is unset), so logs written to a file or a pipe carry no escape codes.
//!
//! A second layer counts every log event of level `info` and above into
//! `lookout_log_events_total{level,target}` whatever `LOOKOUT_LOG` lets through, so the
//! error-log rate can be alerted on even when the printed log is filtered. `target` is the
//! crate that logged (the first path segment of the event's target) when it is one of
//! [`LOG_TARGETS`](crate::metrics_catalogue::LOG_TARGETS), `other` otherwise: bounded.

use std::io::IsTerminal as _;

use clap::ValueEnum;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::metrics_catalogue::LOG_TARGETS;

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging options shared by every subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "LOOKOUT_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

/// True when log lines to stderr may carry ANSI colours.
pub fn use_ansi() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Installs the subscriber. Logs go to stderr so that stdout stays machine-readable
/// (`lookout decode`, `lookout replay` print JSON lines there).
pub fn init(args: &LogArgs) {
    let filter = EnvFilter::try_from_env("LOOKOUT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(use_ansi());
    let fmt = match args.log_format {
        LogFormat::Plain => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    // `try_init` fails only when a subscriber is already installed (tests): keep that one.
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(LogCounter.with_filter(LevelFilter::INFO))
        .try_init();
}

/// Counts log events into `lookout_log_events_total{level,target}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogCounter;

impl<S: Subscriber> Layer<S> for LogCounter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        metrics::counter!(
            "lookout_log_events_total",
            "level" => level_label(*meta.level()),
            "target" => target_label(meta.target())
        )
        .increment(1);
    }
}

/// The `level` label of a level.
pub fn level_label(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// The bounded `target` label of an event target (`lookout_feed::source` → `lookout_feed`).
pub fn target_label(target: &str) -> &'static str {
    let head = target.split("::").next().unwrap_or(target);
    LOG_TARGETS
        .iter()
        .find(|t| **t == head)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_bounded_to_known_crates() {
        assert_eq!(target_label("lookout_feed::source::tcp"), "lookout_feed");
        assert_eq!(target_label("sentinel"), "sentinel");
        assert_eq!(target_label("hyper_util::client"), "other");
        assert_eq!(target_label(""), "other");
    }

    #[test]
    fn every_level_counts_with_a_bounded_target() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let subscriber = tracing_subscriber::registry().with(LogCounter);
        metrics::with_local_recorder(&recorder, || {
            tracing::subscriber::with_default(subscriber, || {
                tracing::error!(target: "lookout_store::dispatcher", "boom");
                tracing::error!(target: "lookout_store::outbox", "boom");
                tracing::warn!(target: "somecrate::x", "hm");
                tracing::debug!("dbg");
            });
        });
        let text = handle.render();
        assert!(
            text.contains(r#"lookout_log_events_total{level="error",target="lookout_store"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"lookout_log_events_total{level="warn",target="other"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"lookout_log_events_total{level="debug",target="lookout"} 1"#),
            "{text}"
        );
    }
}
