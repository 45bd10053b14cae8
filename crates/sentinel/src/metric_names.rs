//! Metric names, in one place so dashboards, alert rules and code agree.

/// Counter `{task}`: observed tasks started.
pub(crate) const TASK_STARTED: &str = "sentinel_task_started_total";
/// Counter `{task, outcome}`: observed tasks finished, by outcome `ok|error|panic|cancelled|timeout`.
pub(crate) const TASK_FINISHED: &str = "sentinel_task_finished_total";
/// Gauge `{task}`: observed tasks running now.
pub(crate) const TASKS_RUNNING: &str = "sentinel_tasks_running";
/// Histogram `{task}`: how long observed tasks ran, in seconds.
pub(crate) const TASK_DURATION: &str = "sentinel_task_duration_seconds";
/// Counter `{task}`: supervisor restarts of a child.
pub(crate) const TASK_RESTARTS: &str = "sentinel_task_restarts_total";
/// Counter `{op}`: retries (attempts after the first).
pub(crate) const RETRIES: &str = "sentinel_retries_total";
/// Counter `{op}`: operations that hit their timeout.
pub(crate) const TIMEOUTS: &str = "sentinel_timeouts_total";
/// Gauge `{op}`: operations holding a [`Limit`](crate::Limit) permit.
pub(crate) const IN_FLIGHT: &str = "sentinel_in_flight";
/// Gauge `{op}`: operations waiting for a [`Limit`](crate::Limit) permit.
pub(crate) const PENDING: &str = "sentinel_pending";
/// Gauge `{task}`: seconds since a heartbeat last beat (refreshed by [`health`](crate::health)).
pub(crate) const HEARTBEAT_AGE: &str = "sentinel_heartbeat_age_seconds";
