//! Channels against real loopback servers: SMTP, webhook, Slack, Maildir.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use lookout_core::{ChannelKind, EventKind, SendError};
use lookout_notify::Renderer;
use lookout_notify::channels::destination::{GuardedResolver, Lookup};
use lookout_notify::channels::{
    DestinationPolicy, HttpChannel, HttpSettings, MaildirChannel, SIGNATURE_HEADER, SmtpChannel,
    Trust, build_message, verify_signature,
};
use lookout_notify::model::User;
use lookout_notify::render::Rendered;
use lookout_notify::test_util::{HttpMode, HttpReceiver, SmtpMode, SmtpServer};

use crate::{event, notification};

fn rendered(channel: ChannelKind) -> Rendered {
    let u = User::new("u1", "acme", "u1@example.com", "Pacific/Auckland");
    let n = notification(
        "0190a1b2-c3d4",
        &u,
        channel,
        "u1@example.com",
        event(EventKind::Entered, "2024-12-31T11:00:00Z"),
    );
    Renderer::with_defaults()
        .render_notification(&n, &u)
        .unwrap()
}

/// A client with `total` as its request timeout.
fn http_with(total: Duration) -> HttpChannel {
    HttpChannel::new(HttpSettings {
        connect_timeout: Duration::from_secs(2),
        total_timeout: total,
    })
    .unwrap()
}

/// Generous limits for requests that should succeed or fail fast on a loaded machine.
fn short_http() -> HttpChannel {
    http_with(Duration::from_secs(10))
}

async fn smtp_send(server: &SmtpServer) -> Result<(), SendError> {
    let channel = SmtpChannel::new(server.settings()).unwrap();
    let s = channel.settings();
    let msg = build_message(
        "0190a1b2-c3d4",
        &s.from,
        &s.message_id_domain,
        "u1@example.com",
        &rendered(ChannelKind::Email),
    )?;
    channel.send(&msg).await
}

#[tokio::test]
async fn smtp_accepts_with_message_id_from_the_notification() {
    let server = SmtpServer::start(SmtpMode::Accept).await.unwrap();
    smtp_send(&server).await.unwrap();
    let mail = server.received();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].from, "alerts@lookout.test");
    assert_eq!(mail[0].to, ["u1@example.com"]);
    let data = &mail[0].data;
    assert!(
        data.contains("Message-ID: <0190a1b2-c3d4@lookout.test>"),
        "{data}"
    );
    let unfolded = data.replace("\r\n ", " ");
    assert!(
        unfolded.contains("Subject: Vessel ENDEAVOUR has entered area New Zealand 400nm at 01/01/2025 00:00 NZDT\r\n"),
        "{data}"
    );
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("text/html"), "{data}");
}

#[tokio::test]
async fn smtp_4xx_is_transient_and_5xx_permanent() {
    let server = SmtpServer::start(SmtpMode::TempFail).await.unwrap();
    let err = smtp_send(&server).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("451"), "{err}");

    server.set_mode(SmtpMode::PermFail);
    let err = smtp_send(&server).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("550")),
        "{err}"
    );

    server.set_mode(SmtpMode::Accept);
    smtp_send(&server).await.unwrap();
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn smtp_silent_greeting_times_out_as_transient() {
    let server = SmtpServer::start(SmtpMode::HangOnGreeting).await.unwrap();
    let mut settings = server.settings();
    settings.total_timeout = Duration::from_millis(300);
    let channel = SmtpChannel::new(settings).unwrap();
    let s = channel.settings();
    let msg = build_message(
        "n1",
        &s.from,
        &s.message_id_domain,
        "u1@example.com",
        &rendered(ChannelKind::Email),
    )
    .unwrap();
    let err = channel.send(&msg).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Transient { reason, .. } if reason.contains("timed out")),
        "{err}"
    );
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn smtp_hang_times_out_as_transient() {
    let server = SmtpServer::start(SmtpMode::HangAfterData).await.unwrap();
    let mut settings = server.settings();
    settings.total_timeout = Duration::from_millis(500);
    let channel = SmtpChannel::new(settings).unwrap();
    let s = channel.settings();
    let msg = build_message(
        "n1",
        &s.from,
        &s.message_id_domain,
        "u1@example.com",
        &rendered(ChannelKind::Email),
    )
    .unwrap();
    let err = channel.send(&msg).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Transient { reason, .. } if reason.contains("timed out")),
        "{err}"
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn smtp_connection_refused_is_transient() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut settings = lookout_notify::channels::SmtpSettings::plain("127.0.0.1", port, "a@b.test");
    settings.total_timeout = Duration::from_secs(2);
    let channel = SmtpChannel::new(settings).unwrap();
    let msg = build_message(
        "n1",
        "a@b.test",
        "b.test",
        "u1@example.com",
        &rendered(ChannelKind::Email),
    )
    .unwrap();
    assert!(channel.send(&msg).await.unwrap_err().is_retryable());
}

fn smtp_message(channel: &SmtpChannel, id: &str) -> lookout_notify::channels::EmailMessage {
    let s = channel.settings();
    build_message(
        id,
        &s.from,
        &s.message_id_domain,
        "u1@example.com",
        &rendered(ChannelKind::Email),
    )
    .unwrap()
}

/// `n` sends at once, each in a task of its own; all must succeed.
async fn send_concurrently(channel: &SmtpChannel, prefix: &str, n: usize) {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let channel = channel.clone();
            let msg = smtp_message(&channel, &format!("{prefix}{i}"));
            sentinel::spawn("smtp-test-send", async move { channel.send(&msg).await })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_reuses_connections() {
    let server = SmtpServer::start(SmtpMode::Accept).await.unwrap();
    let channel = SmtpChannel::new(server.settings()).unwrap();
    for i in 0..20 {
        channel
            .send(&smtp_message(&channel, &format!("n{i}")))
            .await
            .unwrap();
    }
    assert_eq!(server.received().len(), 20);
    // One after the other, a connection is reused (lettre returns it to the pool in a task
    // of its own, so a send right after may still open a second one).
    let sequential = server.connections();
    assert!(
        sequential < 20,
        "20 messages opened {sequential} connections"
    );
    // Clones share the pool: four rounds of five at once reuse the first round's connections.
    for round in 0..4 {
        send_concurrently(&channel, &format!("c{round}-"), 5).await;
    }
    assert_eq!(server.received().len(), 40);
    let concurrent = server.connections() - sequential;
    assert!(
        concurrent < 20,
        "20 messages, 5 at a time, opened {concurrent} connections"
    );
}

#[tokio::test]
async fn smtp_recovers_when_the_server_drops_the_connection() {
    let server = SmtpServer::start(SmtpMode::Accept).await.unwrap();
    let channel = SmtpChannel::new(server.settings()).unwrap();
    channel.send(&smtp_message(&channel, "n1")).await.unwrap();
    assert_eq!(server.open_connections(), 1, "the connection is kept");
    server.drop_connections();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.open_connections() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server kept the connection"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The pooled connection is dead; the next send notices and opens a new one.
    channel.send(&smtp_message(&channel, "n2")).await.unwrap();
    assert_eq!(server.received().len(), 2);
    assert_eq!(server.connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_pool_keeps_no_more_than_its_size() {
    let server = SmtpServer::start(SmtpMode::Accept).await.unwrap();
    let mut settings = server.settings();
    settings.pool_size = 2;
    let channel = SmtpChannel::new(settings).unwrap();
    send_concurrently(&channel, "p", 6).await;
    // Connections beyond the pool are closed once their send is done.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.open_connections() > 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} connections stay open",
            server.open_connections()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn webhook_is_signed_and_carries_the_idempotency_key() {
    let receiver = HttpReceiver::start(HttpMode::Ok).await.unwrap();
    let body = rendered(ChannelKind::Webhook).json.unwrap();
    short_http()
        .send_webhook(
            &receiver.url("/hook"),
            Some(b"topsecret"),
            "0190a1b2-c3d4",
            body.clone(),
            Trust::Operator,
        )
        .await
        .unwrap();
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.path, "/hook");
    assert_eq!(req.body, body.as_bytes());
    assert_eq!(req.header("idempotency-key"), Some("0190a1b2-c3d4"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let sig = req.header(SIGNATURE_HEADER).unwrap();
    let now = jiff::Timestamp::now();
    let tol = Duration::from_secs(300);
    assert!(verify_signature(
        b"topsecret",
        sig,
        "0190a1b2-c3d4",
        &req.body,
        now,
        tol
    ));
    assert!(!verify_signature(
        b"wrong",
        sig,
        "0190a1b2-c3d4",
        &req.body,
        now,
        tol
    ));
    // The timestamp is signed: the same request replayed an hour later fails.
    let later = now + jiff::SignedDuration::from_hours(1);
    assert!(!verify_signature(
        b"topsecret",
        sig,
        "0190a1b2-c3d4",
        &req.body,
        later,
        tol
    ));
    let json: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(json["kind"], "entered");
}

#[tokio::test]
async fn webhook_failures_are_classified() {
    let receiver = HttpReceiver::start(HttpMode::Status(500, None))
        .await
        .unwrap();
    let http = short_http();
    let url = receiver.url("/h");
    let send = || http.send_webhook(&url, Some(b"k"), "id-1", "{}".to_owned(), Trust::Operator);

    let err = send().await.unwrap_err();
    assert!(
        matches!(
            &err,
            SendError::Transient {
                retry_after: None,
                ..
            }
        ),
        "{err}"
    );

    receiver.set_mode(HttpMode::Status(404, None));
    assert!(matches!(send().await.unwrap_err(), SendError::Permanent(m) if m.contains("404")));

    receiver.set_mode(HttpMode::Status(429, Some("17".into())));
    match send().await.unwrap_err() {
        SendError::Transient { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(17)))
        }
        other => panic!("{other}"),
    }

    receiver.set_mode(HttpMode::Status(408, None));
    assert!(send().await.unwrap_err().is_retryable());

    receiver.set_mode(HttpMode::Hang);
    let err = http_with(Duration::from_millis(500))
        .send_webhook(&url, Some(b"k"), "id-1", "{}".to_owned(), Trust::Operator)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Transient { reason, .. } if reason.contains("timed out")),
        "{err}"
    );

    receiver.set_mode(HttpMode::Ok);
    send().await.unwrap();
    // Every attempt of the same notification carried the same key.
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.header("idempotency-key") == Some("id-1"))
    );
    assert_eq!(receiver.received().len(), 6);
}

#[tokio::test]
async fn slack_posts_text_and_blocks() {
    let receiver = HttpReceiver::start(HttpMode::Ok).await.unwrap();
    let body = rendered(ChannelKind::Slack).json.unwrap();
    short_http()
        .send_slack(
            &receiver.url("/services/T/B/X"),
            "n-1",
            body,
            Trust::Operator,
        )
        .await
        .unwrap();
    let req = &receiver.received()[0];
    let json: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        json["text"],
        "Vessel ENDEAVOUR has entered area New Zealand 400nm at 01/01/2025 00:00 NZDT"
    );
    assert!(json["blocks"].as_array().unwrap().len() >= 2);
    assert!(req.header(SIGNATURE_HEADER).is_none());
    assert_eq!(req.header("idempotency-key"), Some("n-1"));
}

/// Hole 3: a Slack URL is a secret; no failure text may contain its path.
#[tokio::test]
async fn slack_url_never_appears_in_errors() {
    // A port nobody listens on: the connection is refused, and reqwest's error would name the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let secret_url = format!("http://127.0.0.1:{port}/services/T0SECRET/B0SECRET/XSECRETTOKEN");
    let err = short_http()
        .send_slack(&secret_url, "n-1", "{}".to_owned(), Trust::Operator)
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("SECRET"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    // A timeout and a status answer as well.
    let receiver = HttpReceiver::start(HttpMode::Status(503, None))
        .await
        .unwrap();
    let url = receiver.url("/services/T0SECRET/B0SECRET/XSECRETTOKEN");
    let err = short_http()
        .send_slack(&url, "n-1", "{}".to_owned(), Trust::Operator)
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
    receiver.set_mode(HttpMode::Hang);
    let err = http_with(Duration::from_millis(300))
        .send_slack(&url, "n-1", "{}".to_owned(), Trust::Operator)
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
}

/// Hole 10: credentials over a plain-text connection are refused unless explicitly allowed.
#[test]
fn smtp_plaintext_auth_is_refused_unless_allowed() {
    let mut settings =
        lookout_notify::channels::SmtpSettings::plain("127.0.0.1", 2525, "l@localhost");
    settings.username = Some("u".into());
    settings.password = Some("p".into());
    let err = SmtpChannel::new(settings.clone()).unwrap_err();
    assert!(err.to_string().contains("clear text"), "{err}");
    SmtpChannel::with_policy(
        settings,
        lookout_notify::channels::SmtpPolicy::allowing_plaintext_auth(),
    )
    .unwrap();
}

/// Hole 8: two workers delivering the same id at once do not share a tmp file; `new/` holds
/// one complete message and `tmp/` is left empty.
#[tokio::test]
async fn maildir_concurrent_same_id_deliveries_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail/bob");
    let msg = build_message(
        "n-7",
        "Lookout <l@localhost>",
        "localhost",
        "bob@example.com",
        &rendered(ChannelKind::Maildir),
    )
    .unwrap();
    let channel = MaildirChannel::new();
    let (a, b, c, d) = tokio::join!(
        channel.deliver(&root, "n-7", &msg),
        channel.deliver(&root, "n-7", &msg),
        channel.deliver(&root, "n-7", &msg),
        channel.deliver(&root, "n-7", &msg),
    );
    for result in [a, b, c, d] {
        result.unwrap();
    }
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    let files: Vec<_> = std::fs::read_dir(root.join("new")).unwrap().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert_eq!(text.as_bytes(), msg.message.formatted().as_slice());
}

#[tokio::test]
async fn maildir_message_lands_in_new() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail/alice");
    let msg = build_message(
        "n-42",
        "Lookout <l@localhost>",
        "localhost",
        "alice@example.com",
        &rendered(ChannelKind::Maildir),
    )
    .unwrap();
    let path = MaildirChannel::new()
        .deliver(&root, "n-42", &msg)
        .await
        .unwrap();
    assert_eq!(path.parent().unwrap(), root.join("new"));
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert!(root.join("cur").is_dir());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("Message-ID: <n-42@localhost>"), "{text}");
    assert!(text.contains("To: alice@example.com"), "{text}");
    // A retry of the same notification replaces, not duplicates.
    MaildirChannel::new()
        .deliver(&root, "n-42", &msg)
        .await
        .unwrap();
    assert_eq!(std::fs::read_dir(root.join("new")).unwrap().count(), 1);
}

/// A client whose tenant resolver answers `name` with `addrs` (a name that rebinds to an
/// internal address at connect time), under `policy`.
fn http_resolving(
    policy: DestinationPolicy,
    name: &'static str,
    addrs: Vec<IpAddr>,
) -> HttpChannel {
    let policy = Arc::new(policy);
    let lookup: Lookup = Arc::new(move |asked: String| {
        let answer = if asked == name {
            Ok(addrs.clone())
        } else {
            Err(std::io::Error::other(format!("no such name {asked}")))
        };
        Box::pin(async move { answer })
    });
    let resolver = GuardedResolver::with_lookup(Arc::clone(&policy), lookup);
    HttpChannel::with_resolver(
        HttpSettings {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(10),
        },
        policy,
        resolver,
    )
    .unwrap()
}

fn allow_loopback() -> DestinationPolicy {
    serde_json::from_str(r#"{"allow": ["127.0.0.0/8"]}"#).unwrap()
}

/// Issue 12: a URL a tenant set never reaches loopback, neither as a literal address nor
/// through a name that resolves there when the request is made (DNS rebinding); the refusal
/// is permanent and names the class. The same URLs go through for the operator, and for a
/// tenant once the operator allows the range, so the refusals are the policy's doing.
#[tokio::test]
async fn tenant_urls_do_not_reach_loopback_literally_or_by_rebinding() {
    let receiver = HttpReceiver::start(HttpMode::Ok).await.unwrap();
    let port = receiver.addr().port();
    let literal = receiver.url("/services/T/B/X");
    let rebinding = format!("http://rebind.test:{port}/services/T/B/X");
    let loopback = vec![IpAddr::from([127, 0, 0, 1])];

    let http = http_resolving(
        DestinationPolicy::default(),
        "rebind.test",
        loopback.clone(),
    );
    for url in [&literal, &rebinding] {
        let err = http
            .send_slack(url, "n-1", "{}".to_owned(), Trust::Tenant)
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{url}: a refusal is permanent: {err}");
        let text = err.to_string();
        assert!(
            text.contains("loopback") && text.contains("[destinations] allow"),
            "{text}"
        );
        assert!(
            !text.contains("/services/"),
            "the secret path stays out: {text}"
        );
        let err = http
            .send_webhook(url, None, "n-1", "{}".to_owned(), Trust::Tenant)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );

    // The operator's own URL goes as written.
    http.send_slack(&literal, "n-2", "{}".to_owned(), Trust::Operator)
        .await
        .unwrap();
    assert_eq!(receiver.received().len(), 1);

    // Allowed by the operator: both spellings reach the receiver through the tenant client,
    // the name through the guarded resolver.
    let http = http_resolving(allow_loopback(), "rebind.test", loopback);
    for url in [&literal, &rebinding] {
        http.send_slack(url, "n-3", "{}".to_owned(), Trust::Tenant)
            .await
            .unwrap();
    }
    http.send_webhook(&rebinding, None, "n-4", "{}".to_owned(), Trust::Tenant)
        .await
        .unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 4);
    assert!(
        received[3].header(SIGNATURE_HEADER).is_none(),
        "a tenant's webhook is not signed with the operator's secret"
    );
    assert_eq!(received[3].header("idempotency-key"), Some("n-4"));
}

/// A name whose every address is internal (loopback and private) is refused before any
/// connection, naming the first refused class. (A name with a public address as well is
/// connected to the public one only: `destination::tests`.)
#[tokio::test]
async fn a_name_with_only_internal_addresses_is_refused() {
    let receiver = HttpReceiver::start(HttpMode::Ok).await.unwrap();
    let port = receiver.addr().port();
    let http = http_resolving(
        DestinationPolicy::default(),
        "mixed.test",
        vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([10, 0, 0, 7])],
    );
    let err = http
        .send_slack(
            &format!("http://mixed.test:{port}/x"),
            "n-1",
            "{}".to_owned(),
            Trust::Tenant,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(receiver.received().is_empty());
}
