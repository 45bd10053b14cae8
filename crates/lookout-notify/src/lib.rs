//! Lookout's notification side: configuration and model, rule matching, rendering and
//! delivery channels.
//!
//! The data path through this crate:
//!
//! 1. The `lookout` binary's `config::load` reads `lookout.toml` and the users/rules files it
//!    names, reports every problem with file, line and field, and builds a [`model::Model`]
//!    inside a [`config::Config`] (the `[smtp]`, `[webhooks]` and `[http_client]` tables are
//!    this crate's [`config`] structs).
//! 2. [`rules::RuleIndex`] turns each tracker [`lookout_core::Event`] into
//!    [`lookout_core::NewNotification`]s (one per rule and channel, with dedupe keys) and
//!    [`rules::Skip`]s (deleted user, area gone, ...), without scanning unrelated rules.
//! 3. The store's dispatcher claims notifications and hands them to [`router::Router`], our
//!    [`lookout_core::Deliver`]: it re-checks the recipient, renders with [`render::Renderer`]
//!    in the user's timezone, and sends through [`channels`] (SMTP, webhook, Slack, Maildir).
//!
//! ```
//! use std::sync::Arc;
//! use lookout_core::{ChannelKind, Event, EventKind};
//! use lookout_notify::model::{DeliveryMode, Model, Rule, User, UserChannel, VesselSelector};
//! use lookout_notify::rules::RuleIndex;
//!
//! let mut model = Model::default();
//! model.areas.insert("nz400".into());
//! let mut user = User::new("alice", "acme", "alice@example.com", "Pacific/Auckland");
//! user.channels.push(UserChannel::new(ChannelKind::Email, user.email.clone()));
//! model.users.insert(user.id.clone(), user);
//! model.rules.push(Rule {
//!     id: "r1".into(), org_id: "acme".into(), owner: "alice".into(),
//!     vessels: VesselSelector::Any, areas: vec!["nz400".into()],
//!     events: [EventKind::Entered].into(), gap_threshold: None, min_dwell: None,
//!     delivery: DeliveryMode::Realtime, channels: vec![], enabled: true,
//! });
//! let index = RuleIndex::new(Arc::new(model));
//! let event = Event {
//!     kind: EventKind::Entered, mmsi: 512_000_001, vessel_name: Some("ENDEAVOUR".into()),
//!     area_id: "nz400".into(), area_name: "New Zealand 400nm".into(),
//!     at: "2024-12-31T11:00:00Z".parse().unwrap(), lat: -41.0, lon: 174.0,
//!     last_seen: None, gap_seconds: None, threshold_seconds: None,
//! };
//! let outcome = index.match_event(&event);
//! assert_eq!(outcome.notifications.len(), 1);
//! assert!(outcome.skipped.is_empty());
//! ```
//!
//! # Features
//!
//! | feature     | what                                                              | cost        |
//! |-------------|-------------------------------------------------------------------|-------------|
//! | `test-util` | [`test_util`]: loopback SMTP and HTTP receivers that fail on command | pulls `axum` |
//!
//! # Metrics
//!
//! `lookout_notifications_skipped_total{reason}` (matcher), `lookout_template_errors_total`
//! (router).

pub mod channels;
pub mod config;
pub mod model;
pub mod render;
pub mod router;
pub mod rules;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use config::Config;
pub use model::Model;
pub use render::Renderer;
pub use router::Router;
pub use rules::{MatchOutcome, RuleIndex, Skip, SkipReason};
