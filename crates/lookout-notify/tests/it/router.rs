//! The router as the dispatcher sees it: lookup at send time, isolation of template errors.

use std::sync::Arc;

use lookout_core::{ChannelKind, Deliver, DigestBatch, EventKind, SendError};
use lookout_notify::channels::{HttpSettings, SmtpChannel};
use lookout_notify::model::{Model, User, UserChannel, WebhookEndpoint};
use lookout_notify::test_util::{HttpMode, HttpReceiver, SmtpMode, SmtpServer};
use lookout_notify::{Renderer, Router};

use crate::{event, notification};

struct Setup {
    router: Router,
    model: Model,
    maildir: tempfile::TempDir,
    smtp: SmtpServer,
    hook: HttpReceiver,
}

async fn setup() -> Setup {
    let smtp = SmtpServer::start(SmtpMode::Accept).await.unwrap();
    let hook = HttpReceiver::start(HttpMode::Ok).await.unwrap();
    let maildir = tempfile::tempdir().unwrap();
    let mut model = Model::default();
    model.webhooks.insert(
        "ops".into(),
        WebhookEndpoint {
            name: "ops".into(),
            url: hook.url("/ops"),
            secret: b"k".to_vec(),
        },
    );
    for id in ["alice", "bob"] {
        let mut u = User::new(id, "acme", &format!("{id}@example.com"), "Pacific/Auckland");
        u.channels = vec![
            UserChannel::new(ChannelKind::Email, u.email.clone()),
            UserChannel::new(
                ChannelKind::Maildir,
                maildir.path().join(id).display().to_string(),
            ),
            UserChannel::new(ChannelKind::Webhook, hook.url("/ops")),
        ];
        model.users.insert(id.into(), u);
    }
    let mut renderer = Renderer::with_defaults();
    let _ = renderer.add_override(
        "rules/broken",
        "entered.subject.txt",
        "{{ vessel | no_such_filter }}",
    );
    let router = Router::new(
        Arc::new(model.clone()),
        Arc::new(renderer),
        Some(SmtpChannel::new(smtp.settings()).unwrap()),
        HttpSettings::default(),
    )
    .unwrap();
    Setup {
        router,
        model,
        maildir,
        smtp,
        hook,
    }
}

#[tokio::test]
async fn routes_each_channel_and_isolates_a_template_error() {
    let s = setup().await;
    let alice = &s.model.users["alice"];
    let e = event(EventKind::Entered, "2024-12-31T11:00:00Z");
    let maildir = alice.channels[1].destination.clone();

    s.router
        .deliver(&notification(
            "n-email",
            alice,
            ChannelKind::Email,
            "alice@example.com",
            e.clone(),
        ))
        .await
        .unwrap();
    s.router
        .deliver(&notification(
            "n-maildir",
            alice,
            ChannelKind::Maildir,
            &maildir,
            e.clone(),
        ))
        .await
        .unwrap();
    s.router
        .deliver(&notification(
            "n-hook",
            alice,
            ChannelKind::Webhook,
            &s.hook.url("/ops"),
            e.clone(),
        ))
        .await
        .unwrap();

    let mut broken = notification("n-broken", alice, ChannelKind::Maildir, &maildir, e.clone());
    broken.new.rule_id = "broken".into();
    let err = s.router.deliver(&broken).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("rules/broken/entered.subject.txt")),
        "{err}"
    );

    // The next notification, on the default templates, is unaffected.
    s.router
        .deliver(&notification(
            "n-after",
            alice,
            ChannelKind::Maildir,
            &maildir,
            e,
        ))
        .await
        .unwrap();

    assert_eq!(s.smtp.received().len(), 1);
    assert_eq!(s.hook.received().len(), 1);
    assert_eq!(
        s.hook.received()[0].header("idempotency-key"),
        Some("n-hook")
    );
    let new_dir = s.maildir.path().join("alice/new");
    let mut names: Vec<_> = std::fs::read_dir(new_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["n-after.lookout", "n-maildir.lookout"]);
}

#[tokio::test]
async fn a_user_deleted_since_queueing_fails_permanently() {
    let s = setup().await;
    let bob = s.model.users["bob"].clone();
    let n = notification(
        "n1",
        &bob,
        ChannelKind::Email,
        "bob@example.com",
        event(EventKind::Entered, "2025-01-01T00:00:00Z"),
    );

    let mut model = s.model.clone();
    model.users.get_mut("bob").unwrap().deleted = true;
    s.router.replace_model(Arc::new(model.clone()));
    let err = s.router.deliver(&n).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.starts_with("recipient deleted")),
        "{err}"
    );

    model.users.remove("bob");
    s.router.replace_model(Arc::new(model));
    let err = s.router.deliver(&n).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.starts_with("recipient deleted")),
        "{err}"
    );
    assert!(s.smtp.received().is_empty());
}

#[tokio::test]
async fn digests_are_delivered_by_email() {
    let s = setup().await;
    let alice = &s.model.users["alice"];
    let items = vec![
        notification(
            "n1",
            alice,
            ChannelKind::Email,
            "alice@example.com",
            event(EventKind::Entered, "2024-12-31T11:00:00Z"),
        ),
        notification(
            "n2",
            alice,
            ChannelKind::Email,
            "alice@example.com",
            event(EventKind::Exited, "2024-12-31T12:00:00Z"),
        ),
    ];
    let digest = DigestBatch {
        id: "digest-alice-20250101".into(),
        user_id: "alice".into(),
        channel: ChannelKind::Email,
        destination: "alice@example.com".into(),
        period_start: "2024-12-30T19:00:00Z".parse().unwrap(),
        period_end: "2024-12-31T19:00:00Z".parse().unwrap(),
        items,
    };
    s.router.deliver_digest(&digest).await.unwrap();
    let mail = s.smtp.received();
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0]
            .data
            .contains("Message-ID: <digest-alice-20250101@lookout.test>"),
        "{}",
        mail[0].data
    );
    assert!(
        mail[0].data.contains("Lookout digest: 2 events"),
        "{}",
        mail[0].data
    );
}

/// Hole 9: two endpoints sharing a URL with different secrets are never resolved by picking the
/// first (a wrong signature); the failure is permanent, names both, and shows no URL path.
#[tokio::test]
async fn webhook_url_shared_with_different_secrets_is_refused() {
    let s = setup().await;
    let mut model = s.model.clone();
    model.webhooks.insert(
        "audit".into(),
        WebhookEndpoint {
            name: "audit".into(),
            url: s.hook.url("/ops"),
            secret: b"other".to_vec(),
        },
    );
    s.router.replace_model(Arc::new(model.clone()));
    let alice = &model.users["alice"];
    let n = notification(
        "n-hook",
        alice,
        ChannelKind::Webhook,
        &s.hook.url("/ops"),
        event(EventKind::Entered, "2024-12-31T11:00:00Z"),
    );
    let err = s.router.deliver(&n).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SendError::Permanent(_)), "{text}");
    assert!(text.contains("audit") && text.contains("ops"), "{text}");
    assert!(!text.contains("/ops"), "{text}");
    assert!(s.hook.received().is_empty());

    // Same secret twice is not ambiguous.
    model.webhooks.get_mut("audit").unwrap().secret = b"k".to_vec();
    s.router.replace_model(Arc::new(model));
    s.router.deliver(&n).await.unwrap();
    assert_eq!(s.hook.received().len(), 1);
}

/// Issue 12: the router sends a URL a tenant set through the tenant client, so the
/// destination policy holds at delivery even for a URL that was allowed when it was written
/// (the operator since narrowed the policy, or the store was written by other means): the
/// notification fails permanently, naming the policy, and the receiver sees nothing. A
/// tenant's webhook URL is never signed with an operator endpoint's secret, even when it is
/// the same URL. The operator's channels to the same receiver are delivered.
#[tokio::test]
async fn a_tenant_url_meets_the_destination_policy_at_delivery() {
    let s = setup().await;
    let slack = s.hook.url("/services/T/B/X");
    let mut tenant = User::new("tina", "acme", "tina@example.com", "UTC");
    tenant.channels = vec![
        UserChannel::tenant(ChannelKind::Slack, slack.clone()),
        UserChannel::tenant(ChannelKind::Webhook, s.hook.url("/ops")),
    ];
    let mut operator = User::new("olga", "acme", "olga@example.com", "UTC");
    operator.channels = vec![UserChannel::new(ChannelKind::Slack, slack.clone())];
    let mut model = s.model.clone();
    model.users.insert("tina".into(), tenant.clone());
    model.users.insert("olga".into(), operator.clone());
    s.router.replace_model(Arc::new(model));
    let e = event(EventKind::Entered, "2024-12-31T11:00:00Z");

    for (id, kind, url) in [
        ("n-slack", ChannelKind::Slack, slack.as_str()),
        ("n-hook", ChannelKind::Webhook, &s.hook.url("/ops")),
    ] {
        let err = s
            .router
            .deliver(&notification(id, &tenant, kind, url, e.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent(m) if m.contains("loopback") && m.contains("destination policy")),
            "{id}: {err}"
        );
    }
    assert!(s.hook.received().is_empty(), "nothing reached the receiver");

    s.router
        .deliver(&notification(
            "n-op",
            &operator,
            ChannelKind::Slack,
            &slack,
            e,
        ))
        .await
        .unwrap();
    assert_eq!(s.hook.received().len(), 1);
}
