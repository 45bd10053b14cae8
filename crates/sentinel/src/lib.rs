//! Resilience toolkit for tokio services: observed tasks, supervision, retries, shutdown, heartbeats.
