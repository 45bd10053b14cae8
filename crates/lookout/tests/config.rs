//! Configuration: the shipped examples load; every problem names file, line and field.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lookout::config::load;
use lookout_core::{ChannelKind, Deliver, EventKind};
use lookout_feed::source::SourceKind;
use lookout_notify::Router;
use lookout_notify::model::{DeliveryMode, VesselSelector};
use lookout_notify::test_util::{HttpMode, HttpReceiver};
use lookout_track::areas::Shape;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
}

#[test]
fn the_shipped_examples_load() {
    let cfg = load(
        &examples().join("lookout.toml"),
        &env(&[("LOOKOUT_DEMO_WEBHOOK_SECRET", "s3cret")]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let model = &cfg.notify.model;
    assert_eq!(model.users.len(), 4);
    assert!(model.users["former"].deleted);
    assert_eq!(model.users["aroha"].timezone_name, "Pacific/Auckland");
    assert!(model.areas.contains("hauraki-gulf"));
    assert!(model.areas.contains("cook-strait"));
    assert!(model.areas.contains("nz400"));
    let nz400 = cfg.areas.iter().find(|a| a.id == "nz400").unwrap();
    assert!(matches!(&nz400.shape, Shape::Within { nm, .. } if *nm == 400.0));
    assert_eq!(nz400.name, "New Zealand 400nm");
    assert_eq!(cfg.sources[0].name, "simulator");
    assert!(matches!(
        &cfg.sources[0].kind,
        SourceKind::TcpClient(c)
            if c.addr == "127.0.0.1:10110" && c.stall_timeout == Duration::from_secs(120)
    ));
    assert_eq!(model.webhooks["demo"].secret, b"s3cret");
    assert_eq!(cfg.outbox.ttl, Duration::from_secs(48 * 3600));
    assert_eq!(cfg.dispatcher.concurrency[&ChannelKind::Slack], 4);
    let digest = model.rule("new-york-digest").unwrap();
    assert!(matches!(digest.delivery, DeliveryMode::Digest(_)));
    let gaps = model.rule("fleet-ais-gaps").unwrap();
    assert_eq!(gaps.vessels, VesselSelector::Fleet("demo-fleet".into()));
    assert_eq!(gaps.gap_threshold, Some(Duration::from_secs(600)));
    assert!(gaps.events.contains(&EventKind::GapEnded));
    assert_eq!(gaps.channels, [ChannelKind::Maildir]);
}

#[test]
fn examples_without_the_webhook_secret_name_the_variable() {
    let err = load(&examples().join("lookout.toml"), &env(&[])).unwrap_err();
    let lines: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(
            "lookout.toml:72: webhook \"demo\": field secret_env: environment variable LOOKOUT_DEMO_WEBHOOK_SECRET is not set"
        ),
        "{}",
        lines[0]
    );
}

const MAIN: &str = r#"users = "users.toml"
rules = "rules.toml"

[[areas]]
kind = "circle"
id = "nz"
name = "New Zealand"
lat = -41.0
lon = 174.0
radius_nm = 400

[digest]
default_schedule = "daily 25:00"
"#;

const USERS: &str = r#"[[organisations]]
id = "acme"

[[users]]
id = "alice"
org = "acme"
email = "alice.example.com"
timezone = "Pacific/Auckland"
channels = [{ kind = "email" }]

[[users]]
id = "bob"
org = "acme"
email = "bob@example.com"
timezone = "Mars/Olympus_Mons"
channels = [{ kind = "maildir", path = "mail/bob" }, { kind = "webhook", endpoint = "ops" }]
"#;

const RULES: &str = r#"[[rules]]
id = "ok"
owner = "bob"
mmsi = [512000001]
areas = ["nz"]
events = ["entered"]

[[rules]]
id = "nz-fleet"
owner = "bob"
vessels = "any"
areas = ["nz", "hauraki"]
events = ["entered", "gap_started"]
gap_threshold = "6h"
delivery = "digest"
schedule = "daily 8am"
channels = ["slack"]

[[rules]]
id = "typo"
owner = "carol"
fleet = "nope"
areas = ["nz"]
events = ["arrived"]
min_dwell = "five minutes"
"#;

#[test]
fn every_problem_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lookout.toml"), MAIN).unwrap();
    std::fs::write(dir.path().join("users.toml"), USERS).unwrap();
    std::fs::write(dir.path().join("rules.toml"), RULES).unwrap();
    let err = load(&dir.path().join("lookout.toml"), &env(&[])).unwrap_err();
    let root = format!("{}/", dir.path().display());
    let got: Vec<String> = err
        .problems()
        .iter()
        .map(|p| p.to_string().replace(&root, ""))
        .collect();
    let want = [
        r#"lookout.toml:13: [digest]: field default_schedule: no such time of day "25:00""#,
        r#"users.toml:7: user "alice": field email: implausible email address "alice.example.com""#,
        r#"users.toml:9: user "alice": field channels.email: email channel needs an [smtp] section in the main config"#,
        r#"users.toml:15: user "bob": field timezone: unknown IANA timezone "Mars/Olympus_Mons" (e.g. "Pacific/Auckland")"#,
        r#"users.toml:16: user "bob": field channels.webhook.endpoint: unknown webhook "ops": define [webhooks.ops] in the main config"#,
        r#"rules.toml:11: rule "nz-fleet": field vessels: gap rules may not target any vessel: choose an mmsi list, fleet or tag"#,
        r#"rules.toml:12: rule "nz-fleet": field areas: unknown area "hauraki""#,
        r#"rules.toml:16: rule "nz-fleet": field schedule: expected HH:MM, got "8am""#,
        r#"rules.toml:17: rule "nz-fleet": field channels: channel slack is not configured for user "bob""#,
        r#"rules.toml:21: rule "typo": field owner: unknown user "carol""#,
        r#"rules.toml:24: rule "typo": field events: unknown event kind "arrived": expected entered, exited, gap_started or gap_ended"#,
        r#"rules.toml:22: rule "typo": field fleet: unknown fleet "nope""#,
        r#"rules.toml:25: rule "typo": field min_dwell: invalid duration "five minutes": expected e.g. "30s", "5m", "6h", "1d", "1h 30m""#,
    ];
    assert_eq!(got, want, "\n{}", got.join("\n"));
    assert!(
        err.to_string()
            .starts_with("13 configuration problems:\n  ")
    );
}

#[test]
fn syntax_and_unknown_keys_are_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lookout.toml"),
        "users = \"u.toml\"\nrules = \"r.toml\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("u.toml"),
        "[[users]]\nid = \"a\"\nemial = \"a@b.c\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("r.toml"), "[[rules]\n").unwrap();
    let err = load(&dir.path().join("lookout.toml"), &env(&[])).unwrap_err();
    let got: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains("u.toml:3: unknown field `emial`"),
        "{}",
        got[0]
    );
    assert!(got[1].contains("r.toml:1: "), "{}", got[1]);
    let missing = load(&dir.path().join("nope.toml"), &env(&[])).unwrap_err();
    assert!(
        missing.to_string().contains("nope.toml: cannot read file"),
        "{missing}"
    );
}

#[test]
fn one_digest_schedule_per_user_and_template_problems_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lookout.toml"),
        "users = \"u.toml\"\nrules = \"r.toml\"\ntemplates = \"t\"\n\n[[areas]]\nkind = \"circle\"\nid = \"a\"\nlat = 0.0\nlon = 0.0\nradius_nm = 1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("u.toml"),
        "[[organisations]]\nid = \"o\"\n[[users]]\nid = \"x\"\norg = \"o\"\nemail = \"x@y.z\"\ntimezone = \"UTC\"\nchannels = [{ kind = \"maildir\", path = \"m\" }]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("r.toml"),
        "[[rules]]\nid = \"d1\"\nowner = \"x\"\nvessels = \"any\"\nareas = [\"a\"]\nevents = [\"entered\"]\ndelivery = \"digest\"\nschedule = \"daily 08:00\"\n\n[[rules]]\nid = \"d2\"\nowner = \"x\"\nvessels = \"any\"\nareas = [\"a\"]\nevents = [\"exited\"]\ndelivery = \"digest\"\nschedule = \"weekly mon 08:00\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/entered.subject.txt"), "{% if %}").unwrap();
    std::fs::write(dir.path().join("t/exited.html.html"), "{{ vesel }}").unwrap();
    let err = load(&dir.path().join("lookout.toml"), &env(&[])).unwrap_err();
    let got: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].ends_with(
            "r.toml:17: rule \"d2\": field schedule: weekly mon 08:00 differs from daily 08:00 of rule \"d1\": all digest rules of user \"x\" share one schedule"
        ),
        "{}",
        got[0]
    );

    // Fix the rules; template problems come from Config::renderer, not from load.
    let fixed = std::fs::read_to_string(dir.path().join("r.toml"))
        .unwrap()
        .replace("weekly mon 08:00", "daily 08:00");
    std::fs::write(dir.path().join("r.toml"), fixed).unwrap();
    let config = load(&dir.path().join("lookout.toml"), &env(&[])).unwrap();
    let got: Vec<String> = config
        .notify
        .renderer()
        .1
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains("t/entered.subject.txt: syntax error"),
        "{}",
        got[0]
    );
    assert!(got[1].starts_with("dir/exited.html.html: "), "{}", got[1]);
    assert!(got[1].contains("undefined value"), "{}", got[1]);
}

const MAIN_TABLES: &str = r#"users = "users.toml"
rules = "rules.toml"
colour = "blue"

[store]
url = "mysql://x"

[http]
listen = "nowhere"

[[sources]]
kind = "tcp_client"
name = "feed"
dial_timeout = "5x"
stall_timeout = "0s"
addr = "h:1"

[[sources]]
kind = "serial"

[[sources]]
kind = "udp"
listen = "0.0.0.0:1"
max_peers = 0
colour = 1

[[sources]]
kind = "tcp_server"

[[areas]]
kind = "circle"
id = "c"
lat = 95.0
lon = 0.0
radius_nm = 1

[[areas]]
kind = "geojson"
path = "empty-id.geojson"

[[areas]]
kind = "polygon"
id = "p"

[dispatcher]
workers = 4
batch_size = 0
concurrency = { slack = 0, pigeon = 2 }

[digest]
poll_interval = "1mo"

[tracker]
max_skew = "soon"
colour = 1

[destinations]
allow = ["10.0.0.0/8", "10.0.0.0/33"]
"#;

#[test]
fn every_bad_key_of_every_main_table_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lookout.toml"), MAIN_TABLES).unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    std::fs::write(dir.path().join("rules.toml"), "").unwrap();
    std::fs::write(
        dir.path().join("empty-id.geojson"),
        r#"{"type":"Feature","id":"","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}"#,
    )
    .unwrap();
    let err = load(&dir.path().join("lookout.toml"), &env(&[])).unwrap_err();
    let root = format!("{}/", dir.path().display());
    let got: Vec<String> = err
        .problems()
        .iter()
        .map(|p| p.to_string().replace(&root, ""))
        .collect();
    let want = [
        r#"lookout.toml:3: field colour: unknown key `colour`: expected users, rules, templates, store, http, sources, areas, smtp, webhooks, http_client, destinations, outbox, dispatcher, digest, tracker or cluster"#,
        r#"lookout.toml:6: [store]: field url: unsupported store url "mysql://x": expected sqlite:... or postgres://..."#,
        r#"lookout.toml:9: [http]: field listen: invalid address "nowhere": invalid socket address syntax"#,
        r#"lookout.toml:14: source "feed": field dial_timeout: invalid duration "5x": expected e.g. "30s", "5m", "6h", "1d", "1h 30m""#,
        r#"lookout.toml:15: source "feed": field stall_timeout: must be greater than zero"#,
        r#"lookout.toml:19: source "source-2": field kind: unknown source kind "serial": expected tcp_client, tcp_server, udp or file"#,
        r#"lookout.toml:24: source "source-3": field max_peers: must be at least 1"#,
        r#"lookout.toml:25: source "source-3": field colour: unknown field `colour`, expected one of `listen`, `max_peers`, `peer_idle`"#,
        r#"lookout.toml:27: source "source-4": field listen: missing"#,
        r#"lookout.toml:33: area "c": field lat: config (id "c"): bad coordinate at position 0: [0, 95] (need finite lon in ±360, lat in ±90)"#,
        r#"lookout.toml:39: area "empty-id.geojson": field path: empty-id.geojson: feature 0: invalid geojson: empty "id": give the area a non-empty id, or none to use the file name"#,
        r#"lookout.toml:42: area "p": field kind: unknown variant `polygon`, expected `geojson` or `circle`"#,
        r#"lookout.toml:46: [dispatcher]: field workers: no longer used: the dispatcher runs one claim loop and never read it; limit concurrent sends per channel with concurrency = { email = 8, webhook = 8, slack = 8, maildir = 8 } instead"#,
        r#"lookout.toml:47: [dispatcher]: field batch_size: must be at least 1"#,
        r#"lookout.toml:48: [dispatcher]: field concurrency.pigeon: unknown variant `pigeon`, expected one of `email`, `webhook`, `slack`, `maildir`"#,
        r#"lookout.toml:48: [dispatcher]: field concurrency.slack: must be at least 1"#,
        r#"lookout.toml:51: [digest]: field poll_interval: invalid duration "1mo": expected e.g. "30s", "5m", "6h", "1d", "1h 30m""#,
        r#"lookout.toml:54: [tracker]: field max_skew: invalid duration "soon": expected e.g. "30s", "5m", "6h", "1d", "1h 30m""#,
        r#"lookout.toml:55: [tracker]: field colour: unknown field `colour`, expected one of `max_skew`, `allowed_lateness`, `resume_grace`, `max_silent_inside`, `max_first_sightings_per_minute`, `max_vessels`"#,
        r#"lookout.toml:58: [destinations]: field allow: invalid range "10.0.0.0/33": expected an address or CIDR, e.g. "10.20.0.0/16""#,
    ];
    assert_eq!(got, want, "\n{}", got.join("\n"));
}

#[test]
fn the_tracker_table_reaches_the_tracker_and_a_source_takes_a_clock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lookout.toml"),
        "users = \"users.toml\"\nrules = \"rules.toml\"\n\n[[sources]]\nkind = \"udp\"\nlisten = \"127.0.0.1:0\"\nclock = \"data\"\n\n[tracker]\nmax_skew = \"2m\"\nmax_vessels = 5000\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    std::fs::write(dir.path().join("rules.toml"), "").unwrap();
    let config = load(&dir.path().join("lookout.toml"), &env(&[])).unwrap();
    assert_eq!(config.sources[0].clock, lookout_core::ClockMode::Data);
    let mut tracker = lookout_track::tracker::TrackerConfig::default();
    let mut shards = lookout_track::runner::ShardConfig::default();
    config.tracker.apply(&mut tracker, &mut shards);
    assert_eq!(tracker.max_skew, std::time::Duration::from_secs(120));
    assert_eq!(shards.max_vessels, 5000);
    // Unset keys keep the tracker's own defaults.
    let defaults = lookout_track::tracker::TrackerConfig::default();
    assert_eq!(tracker.allowed_lateness, defaults.allowed_lateness);
}

#[test]
fn dispatcher_workers_is_a_problem_naming_what_to_use_instead() {
    let dir = tempfile::tempdir().unwrap();
    let main = "users = \"u.toml\"\nrules = \"r.toml\"\n[dispatcher]\nworkers = 4\n";
    std::fs::write(dir.path().join("lookout.toml"), main).unwrap();
    std::fs::write(dir.path().join("u.toml"), "").unwrap();
    std::fs::write(dir.path().join("r.toml"), "").unwrap();
    let err = load(&dir.path().join("lookout.toml"), &env(&[])).unwrap_err();
    let got: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("lookout.toml:4: [dispatcher]: field workers: no longer used")
            && got[0].contains("concurrency = {"),
        "{}",
        got[0]
    );
    // Without it the same file loads, with the dispatcher's own defaults.
    std::fs::write(
        dir.path().join("lookout.toml"),
        main.replace("workers = 4\n", ""),
    )
    .unwrap();
    let config = load(&dir.path().join("lookout.toml"), &env(&[])).unwrap();
    let dispatcher = config.dispatcher.into_config(&config.outbox);
    let defaults = lookout_store::DispatcherConfig::default();
    assert_eq!(
        (dispatcher.batch_size, dispatcher.max_attempts),
        (defaults.batch_size, defaults.max_attempts)
    );
}

#[test]
fn per_channel_concurrency_is_kept_per_channel() {
    let cfg = load(
        &examples().join("lookout.toml"),
        &env(&[("LOOKOUT_DEMO_WEBHOOK_SECRET", "s3cret")]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dispatcher = cfg.dispatcher.into_config(&cfg.outbox);
    // Not collapsed to the largest (8): slack keeps its 4.
    assert_eq!(dispatcher.channel_concurrency[&ChannelKind::Slack], 4);
    assert_eq!(dispatcher.channel_concurrency[&ChannelKind::Email], 8);
}

/// An `entered` event for ENDEAVOUR in New Zealand 400nm at `at` (RFC 3339).
fn entered(at: &str) -> lookout_core::Event {
    lookout_core::Event {
        kind: EventKind::Entered,
        mmsi: 512_000_001,
        vessel_name: Some("ENDEAVOUR".into()),
        area_id: "nz400".into(),
        area_name: "New Zealand 400nm".into(),
        at: at.parse().unwrap(),
        lat: -41.123_456,
        lon: 174.5,
        last_seen: None,
        gap_seconds: None,
        threshold_seconds: None,
    }
}

// Moved from lookout-notify's router tests with the loader: files to a delivered message.
#[tokio::test]
async fn from_config_files_to_inbox() {
    let hook = HttpReceiver::start(HttpMode::Ok).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let main = format!(
        r#"users = "users.toml"
rules = "rules.toml"
templates = "templates"

[[areas]]
kind = "circle"
id = "nz400"
name = "New Zealand 400nm"
lat = -41.0
lon = 174.0
radius_nm = 400

[webhooks.ops]
url = "{}"
secret_env = "OPS_SECRET"
"#,
        hook.url("/ops")
    );
    let users = r#"[[organisations]]
id = "acme"

[[users]]
id = "kiri"
org = "acme"
email = "kiri@example.com"
timezone = "Pacific/Auckland"
channels = [{ kind = "maildir", path = "mail/kiri" }, { kind = "webhook", endpoint = "ops" }]
"#;
    let rules = r#"[[vessels]]
mmsi = 512000001
name = "REGISTRY NAME"

[[rules]]
id = "nz"
owner = "kiri"
mmsi = [512000001]
areas = ["nz400"]
events = ["entered"]
"#;
    std::fs::write(dir.path().join("lookout.toml"), main).unwrap();
    std::fs::write(dir.path().join("users.toml"), users).unwrap();
    std::fs::write(dir.path().join("rules.toml"), rules).unwrap();
    std::fs::create_dir_all(dir.path().join("templates/rules/nz")).unwrap();
    std::fs::write(
        dir.path().join("templates/rules/nz/entered.text.txt"),
        "{{ subject }} -- custom for rule nz",
    )
    .unwrap();
    let env: std::collections::BTreeMap<String, String> =
        [("OPS_SECRET".to_owned(), "s".to_owned())].into();
    let config = load(&dir.path().join("lookout.toml"), &env).unwrap();
    let (router, problems) = Router::from_config(&config.notify).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let index = lookout_notify::RuleIndex::new(Arc::new(config.notify.model.clone()));

    let mut e = entered("2024-12-31T11:00:00Z");
    e.vessel_name = None; // no static data yet: the registry's name is used
    let outcome = index.match_event(&e);
    assert_eq!(outcome.notifications.len(), 2);
    for (i, new) in outcome.notifications.into_iter().enumerate() {
        let n = lookout_core::Notification {
            id: format!("n{i}"),
            attempt: 1,
            created_at: new.event.at,
            new,
        };
        router.deliver(&n).await.unwrap();
    }
    let new_dir = dir.path().join("mail/kiri/new");
    let files: Vec<_> = std::fs::read_dir(&new_dir).unwrap().collect();
    assert_eq!(files.len(), 1);
    let mail = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(mail.contains("To: kiri@example.com"), "{mail}");
    assert!(mail.contains("-- custom for rule nz"), "{mail}");
    assert!(mail.contains("Vessel REGISTRY NAME has entered"), "{mail}");
    let got = hook.received();
    assert_eq!(got.len(), 1);
    assert!(lookout_notify::channels::verify_signature(
        b"s",
        got[0].header("x-lookout-signature").unwrap(),
        got[0].header("idempotency-key").unwrap(),
        &got[0].body,
        jiff::Timestamp::now(),
        std::time::Duration::from_secs(300),
    ));
}

/// Issue 9: `[store] url_env` names the variable holding the store URL (a PostgreSQL URL
/// carries a password); exactly one of `url` and `url_env`; the variable's value is never
/// echoed in a problem.
#[test]
fn the_store_url_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    std::fs::write(dir.path().join("rules.toml"), "").unwrap();
    let main = |store: &str| {
        let path = dir.path().join("lookout.toml");
        std::fs::write(
            &path,
            format!("users = \"users.toml\"\nrules = \"rules.toml\"\n\n[store]\n{store}\n"),
        )
        .unwrap();
        path
    };
    let secret = "postgres://lookout:hunter2@db.internal/lookout";
    let path = main("url_env = \"LOOKOUT_DB\"");
    let cfg = load(&path, &env(&[("LOOKOUT_DB", secret)])).unwrap();
    assert_eq!(cfg.store.url, secret);

    let problems = |path: &Path, vars: &[(&str, &str)]| -> Vec<String> {
        let root = format!("{}/", dir.path().display());
        load(path, &env(vars))
            .unwrap_err()
            .problems()
            .iter()
            .map(|p| p.to_string().replace(&root, ""))
            .collect()
    };
    assert_eq!(
        problems(&path, &[]),
        ["lookout.toml:5: [store]: field url_env: environment variable LOOKOUT_DB is not set"]
    );
    let got = problems(&path, &[("LOOKOUT_DB", "mysql://root:hunter2@x/db")]);
    assert_eq!(
        got,
        [
            "lookout.toml:5: [store]: field url_env: environment variable LOOKOUT_DB does not hold a store url: expected sqlite:... or postgres://..."
        ]
    );
    let path = main("url = \"sqlite://x.db\"\nurl_env = \"LOOKOUT_DB\"");
    assert_eq!(
        problems(&path, &[("LOOKOUT_DB", secret)]),
        ["lookout.toml:5: [store]: field url: set one of url and url_env"]
    );
}
