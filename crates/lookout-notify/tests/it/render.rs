//! Rendering: exact text in the user's timezone, DST, autoescape, template errors.

use lookout_core::{ChannelKind, DigestBatch, EventKind};
use lookout_notify::Renderer;
use lookout_notify::model::User;

use crate::{event, notification};

fn user(tz: &str) -> User {
    User::new("u1", "acme", "u1@example.com", tz)
}

fn subject_and_text(tz: &str, kind: EventKind, at: &str) -> (String, String) {
    let r = Renderer::with_defaults();
    let u = user(tz);
    let n = notification(
        "n1",
        &u,
        ChannelKind::Email,
        "u1@example.com",
        event(kind, at),
    );
    let out = r.render_notification(&n, &u).unwrap();
    (out.subject, out.text)
}

#[test]
fn entered_in_new_zealand_summer_time() {
    let (subject, text) = subject_and_text(
        "Pacific/Auckland",
        EventKind::Entered,
        "2024-12-31T11:00:00Z",
    );
    assert_eq!(
        subject,
        "Vessel ENDEAVOUR has entered area New Zealand 400nm at 01/01/2025 00:00 NZDT"
    );
    assert_eq!(
        text,
        "Vessel ENDEAVOUR has entered area New Zealand 400nm at 01/01/2025 00:00 NZDT\n\
         \n\
         MMSI: 512000001\n\
         Position: -41.1235, 174.5\n\
         Time (UTC): 2024-12-31T11:00:00Z\n\
         Rule: r1"
    );
}

#[test]
fn every_kind_has_its_sentence() {
    let tz = "Pacific/Auckland";
    let at = "2024-12-31T11:00:00Z";
    let (s, _) = subject_and_text(tz, EventKind::Exited, at);
    assert_eq!(
        s,
        "Vessel ENDEAVOUR has exited area New Zealand 400nm at 01/01/2025 00:00 NZDT"
    );
    let (s, _) = subject_and_text(tz, EventKind::GapStarted, at);
    assert_eq!(
        s,
        "Vessel ENDEAVOUR has stopped reporting AIS within area New Zealand 400nm from 31/12/2024 18:00 NZDT for over 6 hours"
    );
    let (s, _) = subject_and_text(tz, EventKind::GapEnded, at);
    assert_eq!(
        s,
        "Vessel ENDEAVOUR has resumed reporting AIS within area New Zealand 400nm at 01/01/2025 00:00 NZDT after 1 day 2 hours"
    );
}

#[test]
fn london_summer_and_winter_time() {
    let (summer, _) = subject_and_text("Europe/London", EventKind::Entered, "2025-07-01T12:00:00Z");
    assert_eq!(
        summer,
        "Vessel ENDEAVOUR has entered area New Zealand 400nm at 01/07/2025 13:00 BST"
    );
    let (winter, _) = subject_and_text("Europe/London", EventKind::Entered, "2025-01-15T12:00:00Z");
    assert_eq!(
        winter,
        "Vessel ENDEAVOUR has entered area New Zealand 400nm at 15/01/2025 12:00 GMT"
    );
    // Either side of the October change (01:00 UTC on 2025-10-26).
    let (before, _) = subject_and_text("Europe/London", EventKind::Exited, "2025-10-26T00:30:00Z");
    let (after, _) = subject_and_text("Europe/London", EventKind::Exited, "2025-10-26T01:30:00Z");
    assert!(before.ends_with("26/10/2025 01:30 BST"), "{before}");
    assert!(after.ends_with("26/10/2025 01:30 GMT"), "{after}");
}

#[test]
fn mmsi_is_the_fallback_name() {
    let r = Renderer::with_defaults();
    let u = user("UTC");
    let mut e = event(EventKind::Entered, "2025-01-01T00:00:00Z");
    e.vessel_name = None;
    let n = notification("n1", &u, ChannelKind::Email, "u1@example.com", e);
    let out = r.render_notification(&n, &u).unwrap();
    assert!(
        out.subject.starts_with("Vessel MMSI 512000001 has entered"),
        "{}",
        out.subject
    );
}

#[test]
fn html_is_autoescaped_and_json_is_valid() {
    let r = Renderer::with_defaults();
    let u = user("UTC");
    let mut e = event(EventKind::Entered, "2025-01-01T00:00:00Z");
    e.vessel_name = Some("<script>alert(1)</script>".into());
    e.area_name = "Cook & \"Strait\"".into();
    let n = notification("n1", &u, ChannelKind::Email, "u1@example.com", e.clone());
    let out = r.render_notification(&n, &u).unwrap();
    let html = out.html.unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
    assert!(html.contains("Cook &amp; &quot;Strait&quot;"), "{html}");
    // The plain-text subject is not escaped.
    assert!(out.subject.contains("<script>alert(1)</script>"));

    for channel in [ChannelKind::Webhook, ChannelKind::Slack] {
        let n = notification("n1", &u, channel, "http://x", e.clone());
        let json: serde_json::Value =
            serde_json::from_str(&r.render_notification(&n, &u).unwrap().json.unwrap()).unwrap();
        let text = if channel == ChannelKind::Webhook {
            assert_eq!(json["vessel"], "<script>alert(1)</script>");
            assert_eq!(json["mmsi"], 512_000_001);
            assert_eq!(json["id"], "n1");
            assert_eq!(json["at"], "2025-01-01T00:00:00Z");
            json["text"].clone()
        } else {
            assert!(json["blocks"].is_array());
            assert_eq!(
                json["blocks"][0]["text"]["text"],
                "*Vessel &lt;script&gt;alert(1)&lt;/script&gt; has entered area Cook &amp; \"Strait\" at 01/01/2025 00:00 UTC*"
            );
            json["text"].clone()
        };
        if channel == ChannelKind::Webhook {
            assert_eq!(text, out.subject.as_str());
        }
    }
}

#[test]
fn a_broken_override_fails_only_its_rule() {
    let mut r = Renderer::with_defaults();
    let err = r
        .add_override("rules/r-broken", "entered.subject.txt", "Vessel {{ vessel ")
        .unwrap_err();
    assert!(err.template.contains("rules/r-broken"));
    r.add_override(
        "rules/r-undefined",
        "entered.subject.txt",
        "{{ no_such_thing.field }}",
    )
    .unwrap();
    r.add_override("orgs/acme", "entered.subject.txt", "ACME: {{ vessel }}")
        .unwrap();
    let u = user("UTC");
    let mut n = notification(
        "n1",
        &u,
        ChannelKind::Email,
        "u1@example.com",
        event(EventKind::Entered, "2025-01-01T00:00:00Z"),
    );

    n.new.rule_id = "r-broken".into();
    let err = r.render_notification(&n, &u).unwrap_err();
    assert_eq!(err.template, "rules/r-broken/entered.subject.txt");
    assert!(err.message.contains("syntax error"), "{}", err.message);

    n.new.rule_id = "r-undefined".into();
    let err = r.render_notification(&n, &u).unwrap_err();
    assert!(err.message.contains("undefined"), "{}", err.message);

    n.new.rule_id = "r-fine".into();
    assert_eq!(
        r.render_notification(&n, &u).unwrap().subject,
        "ACME: ENDEAVOUR"
    );
    n.new.org_id = "other".into();
    assert!(
        r.render_notification(&n, &u)
            .unwrap()
            .subject
            .starts_with("Vessel ENDEAVOUR")
    );
}

#[test]
fn templates_directory_overrides_and_reports_problems() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("orgs/acme")).unwrap();
    std::fs::write(dir.path().join("exited.subject.txt"), "Gone: {{ vessel }}").unwrap();
    std::fs::write(
        dir.path().join("orgs/acme/entered.subject.txt"),
        "Here: {{ vessel }}",
    )
    .unwrap();
    std::fs::write(dir.path().join("orgs/acme/oops.txt"), "x").unwrap();
    let mut r = Renderer::with_defaults();
    let problems = r.load_dir(dir.path());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .to_string()
            .contains("unknown template name \"oops.txt\"")
    );
    let u = user("UTC");
    let n = notification(
        "n1",
        &u,
        ChannelKind::Email,
        "u1@example.com",
        event(EventKind::Entered, "2025-01-01T00:00:00Z"),
    );
    assert_eq!(
        r.render_notification(&n, &u).unwrap().subject,
        "Here: ENDEAVOUR"
    );
    let n = notification(
        "n1",
        &u,
        ChannelKind::Email,
        "u1@example.com",
        event(EventKind::Exited, "2025-01-01T00:00:00Z"),
    );
    assert_eq!(
        r.render_notification(&n, &u).unwrap().subject,
        "Gone: ENDEAVOUR"
    );
}

#[test]
fn digest_has_a_summary_table() {
    let r = Renderer::with_defaults();
    let u = user("Pacific/Auckland");
    let items = vec![
        notification(
            "n1",
            &u,
            ChannelKind::Email,
            "u1@example.com",
            event(EventKind::Entered, "2024-12-31T11:00:00Z"),
        ),
        notification(
            "n2",
            &u,
            ChannelKind::Email,
            "u1@example.com",
            event(EventKind::Exited, "2024-12-31T12:00:00Z"),
        ),
        notification(
            "n3",
            &u,
            ChannelKind::Email,
            "u1@example.com",
            event(EventKind::Entered, "2024-12-31T13:00:00Z"),
        ),
    ];
    let digest = DigestBatch {
        id: "d1".into(),
        user_id: "u1".into(),
        channel: ChannelKind::Email,
        destination: "u1@example.com".into(),
        period_start: "2024-12-30T19:00:00Z".parse().unwrap(),
        period_end: "2024-12-31T19:00:00Z".parse().unwrap(),
        items,
    };
    let out = r.render_digest(&digest, &u).unwrap();
    assert_eq!(
        out.subject,
        "Lookout digest: 3 events from 31/12/2024 08:00 NZDT to 01/01/2025 08:00 NZDT"
    );
    assert!(
        out.text.contains("Summary: entered 2, exited 1"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains(
            "01/01/2025 00:00 NZDT | ENDEAVOUR (512000001) | entered | New Zealand 400nm"
        ),
        "{}",
        out.text
    );
    let html = out.html.unwrap();
    assert_eq!(
        html.matches("NZDT</td><td>ENDEAVOUR</td>").count(),
        3,
        "{html}"
    );
    assert!(
        html.contains("<tr><th>entered</th><th>exited</th></tr>\n<tr><td>2</td><td>1</td></tr>"),
        "{html}"
    );
    let mut webhook = digest.clone();
    webhook.channel = ChannelKind::Webhook;
    let json: serde_json::Value =
        serde_json::from_str(&r.render_digest(&webhook, &u).unwrap().json.unwrap()).unwrap();
    assert_eq!(json["count"], 3);
    assert_eq!(json["items"].as_array().unwrap().len(), 3);
}

#[test]
fn a_panicking_template_fails_only_its_notification() {
    let mut r = Renderer::with_defaults();
    r.register_test_panic();
    r.add_override(
        "rules/r-panic",
        "entered.text.txt",
        "{{ test_panic(\"boom in template\") }}",
    )
    .unwrap();
    let u = user("UTC");
    let mut n = notification(
        "n1",
        &u,
        ChannelKind::Email,
        "u1@example.com",
        event(EventKind::Entered, "2025-01-01T00:00:00Z"),
    );
    n.new.rule_id = "r-panic".into();
    let err = r.render_notification(&n, &u).unwrap_err();
    assert_eq!(err.template, "rules/r-panic/entered.text.txt");
    assert!(
        err.message.contains("template panicked: boom in template"),
        "{}",
        err.message
    );
    n.new.rule_id = "r-other".into();
    assert!(r.render_notification(&n, &u).is_ok());
}

#[test]
fn a_thousand_item_digest_renders_within_the_fuel_budget() {
    let r = Renderer::with_defaults();
    let u = user("Europe/London");
    let items: Vec<_> = (0..1000)
        .map(|i| {
            notification(
                &format!("n{i}"),
                &u,
                ChannelKind::Email,
                "u1@example.com",
                event(EventKind::Entered, "2025-01-01T00:00:00Z"),
            )
        })
        .collect();
    for channel in [ChannelKind::Email, ChannelKind::Slack, ChannelKind::Webhook] {
        let digest = DigestBatch {
            id: "d".into(),
            user_id: "u1".into(),
            channel,
            destination: "x".into(),
            period_start: "2024-12-31T08:00:00Z".parse().unwrap(),
            period_end: "2025-01-01T08:00:00Z".parse().unwrap(),
            items: items.clone(),
        };
        let out = r.render_digest(&digest, &u).unwrap();
        assert!(
            out.subject.starts_with("Lookout digest: 1000 events"),
            "{}",
            out.subject
        );
    }
}
