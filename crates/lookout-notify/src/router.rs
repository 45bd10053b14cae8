//! The [`Router`]: `lookout_core::Deliver` for the dispatcher. It looks the recipient up in the
//! *current* model at send time (a user deleted since the notification was queued fails
//! permanently with "recipient deleted"), renders in the user's timezone and sends on the
//! notification's channel.

use std::path::PathBuf;
use std::sync::Arc;

use lookout_core::swap::Swap;
use lookout_core::{ChannelKind, Deliver, DigestBatch, Notification, SendError};

use crate::channels::{
    HttpChannel, HttpSettings, MaildirChannel, SetupError, SmtpChannel, Trust, build_message,
    redact,
};
use crate::config::Config;
use crate::model::{Model, User, WebhookEndpoint};
use crate::render::TemplateProblem;
use crate::render::{Rendered, Renderer};

/// Default sender for Maildir messages when no SMTP sender is configured.
const DEFAULT_FROM: &str = "Lookout <lookout@localhost>";

/// Renders and sends notifications on the right channel. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Router {
    model: Swap<Model>,
    renderer: Swap<Renderer>,
    smtp: Option<SmtpChannel>,
    http: HttpChannel,
    maildir: MaildirChannel,
    from: String,
    message_id_domain: String,
}

impl Router {
    /// A router over `model` and `renderer`; `smtp` is `None` when email is not configured
    /// (email notifications then fail permanently).
    pub fn new(
        model: Arc<Model>,
        renderer: Arc<Renderer>,
        smtp: Option<SmtpChannel>,
        http: HttpSettings,
    ) -> Result<Router, SetupError> {
        Ok(Router::with_http(
            model,
            renderer,
            smtp,
            HttpChannel::new(http)?,
        ))
    }

    /// A router that sends webhooks and Slack messages with `http` (its settings and its
    /// destination policy for tenant URLs).
    pub fn with_http(
        model: Arc<Model>,
        renderer: Arc<Renderer>,
        smtp: Option<SmtpChannel>,
        http: HttpChannel,
    ) -> Router {
        let (from, message_id_domain) = match &smtp {
            Some(s) => (
                s.settings().from.clone(),
                s.settings().message_id_domain.clone(),
            ),
            None => (DEFAULT_FROM.to_owned(), "lookout.invalid".to_owned()),
        };
        Router {
            model: Swap::new(model),
            renderer: Swap::new(renderer),
            smtp,
            http,
            maildir: MaildirChannel::new(),
            from,
            message_id_domain,
        }
    }

    /// Builds the router for a loaded configuration: its model, its templates (shipped plus
    /// overrides from `templates_dir`), SMTP when configured, and its HTTP client settings.
    /// Template problems are returned, not fatal: a broken template fails only the
    /// notifications that use it.
    pub fn from_config(config: &Config) -> Result<(Router, Vec<TemplateProblem>), SetupError> {
        let (renderer, problems) = config.renderer();
        let smtp = config.smtp.clone().map(SmtpChannel::new).transpose()?;
        let http = HttpChannel::with_policy(config.http_client, config.destinations.clone())?;
        let router = Router::with_http(
            Arc::new(config.model.clone()),
            Arc::new(renderer),
            smtp,
            http,
        );
        Ok((router, problems))
    }

    /// The policy for URLs a tenant set.
    pub fn destinations(&self) -> &crate::channels::DestinationPolicy {
        self.http.policy()
    }

    /// The model in use now.
    pub fn model(&self) -> Arc<Model> {
        self.model.load()
    }

    /// Swaps in a new model (configuration reload); in-flight sends keep the old one.
    pub fn replace_model(&self, model: Arc<Model>) {
        self.model.store(model);
    }

    /// Swaps in a new renderer (template reload).
    pub fn replace_renderer(&self, renderer: Arc<Renderer>) {
        self.renderer.store(renderer);
    }

    fn snapshot(&self) -> (Arc<Model>, Arc<Renderer>) {
        (self.model.load(), self.renderer.load())
    }

    fn recipient(model: &Model, user_id: &str) -> Result<User, SendError> {
        match model.users.get(user_id) {
            None => Err(SendError::Permanent(format!(
                "recipient deleted: user {user_id:?} no longer exists"
            ))),
            Some(user) if user.deleted => Err(SendError::Permanent(format!(
                "recipient deleted: user {user_id:?}"
            ))),
            Some(user) if !user.enabled => Err(SendError::Permanent(format!(
                "recipient disabled: user {user_id:?}"
            ))),
            Some(user) => Ok(user.clone()),
        }
    }

    async fn send(
        &self,
        model: &Model,
        user: &User,
        id: &str,
        channel: ChannelKind,
        destination: &str,
        rendered: Rendered,
    ) -> Result<(), SendError> {
        match channel {
            ChannelKind::Email => {
                let smtp = self.smtp.as_ref().ok_or_else(|| {
                    SendError::Permanent("email channel used but [smtp] is not configured".into())
                })?;
                let message = build_message(
                    id,
                    &smtp.settings().from,
                    &smtp.settings().message_id_domain,
                    destination,
                    &rendered,
                )?;
                smtp.send(&message).await
            }
            ChannelKind::Maildir => {
                let message = build_message(
                    id,
                    &self.from,
                    &self.message_id_domain,
                    &user.email,
                    &rendered,
                )?;
                self.maildir
                    .deliver(&PathBuf::from(destination), id, &message)
                    .await
                    .map(|_| ())
            }
            ChannelKind::Webhook => {
                let body = rendered.json.unwrap_or_default();
                if origin(user, channel, destination) == Some(Trust::Tenant) {
                    return self
                        .http
                        .send_webhook(destination, None, id, body, Trust::Tenant)
                        .await;
                }
                let endpoint = webhook_for(model, destination)?;
                self.http
                    .send_webhook(
                        &endpoint.url,
                        Some(&endpoint.secret),
                        id,
                        body,
                        Trust::Operator,
                    )
                    .await
            }
            ChannelKind::Slack => {
                let body = rendered.json.unwrap_or_default();
                // A URL the user's channels no longer name (changed since it was queued) is
                // treated as a tenant's: checked, never trusted by default.
                let trust = origin(user, channel, destination).unwrap_or(Trust::Tenant);
                self.http.send_slack(destination, id, body, trust).await
            }
        }
    }
}

/// Who set `destination` on `user`'s `kind` channel, when the user still has it.
fn origin(user: &User, kind: ChannelKind, destination: &str) -> Option<Trust> {
    user.channels
        .iter()
        .find(|c| c.kind == kind && c.destination == destination)
        .map(|c| c.origin)
}

/// The webhook endpoint configured for `url`. Two endpoints sharing a URL with different
/// secrets are ambiguous: signing with either could be wrong, so that is a permanent failure
/// naming both (never a silent pick of the first). Error texts carry only the redacted URL.
fn webhook_for<'m>(model: &'m Model, url: &str) -> Result<&'m WebhookEndpoint, SendError> {
    let mut matches = model.webhooks.values().filter(|w| w.url == url);
    let Some(first) = matches.next() else {
        return Err(SendError::Permanent(format!(
            "webhook endpoint for {} is no longer configured",
            redact(url)
        )));
    };
    let clashing: Vec<&str> = matches
        .filter(|w| w.secret != first.secret)
        .map(|w| w.name.as_str())
        .collect();
    if !clashing.is_empty() {
        return Err(SendError::Permanent(format!(
            "webhook endpoints {:?} and {clashing:?} share the url {} with different secrets; give each its own url",
            first.name,
            redact(url)
        )));
    }
    Ok(first)
}

/// The vessel registry's name (the registry of organisation `org`) for an event whose AIS
/// static data carried none.
fn registry_name(model: &Model, org: &str, event: &lookout_core::Event) -> Option<String> {
    if event
        .vessel_name
        .as_deref()
        .is_some_and(|n| !n.trim().is_empty())
    {
        return None;
    }
    model
        .registry(org)
        .get(&event.mmsi)
        .and_then(|v| v.name.clone())
        .filter(|n| !n.trim().is_empty())
}

impl Deliver for Router {
    async fn deliver(&self, notification: &Notification) -> Result<(), SendError> {
        let (model, renderer) = self.snapshot();
        let user = Self::recipient(&model, &notification.new.user_id)?;
        let named;
        let org = notification.new.org_id.as_str();
        let notification = match registry_name(&model, org, &notification.new.event) {
            Some(name) => {
                let mut copy = notification.clone();
                copy.new.event.vessel_name = Some(name);
                named = copy;
                &named
            }
            None => notification,
        };
        let rendered = renderer
            .render_notification(notification, &user)
            .map_err(|err| {
                tracing::error!(
                    notification_id = %notification.id,
                    rule_id = %notification.new.rule_id,
                    template = %err.template,
                    error = %err.message,
                    "template failed"
                );
                metrics::counter!("lookout_template_errors_total").increment(1);
                SendError::Permanent(err.to_string())
            })?;
        let new = &notification.new;
        self.send(
            &model,
            &user,
            &notification.id,
            new.channel,
            &new.destination,
            rendered,
        )
        .await
    }

    async fn deliver_digest(&self, digest: &DigestBatch) -> Result<(), SendError> {
        let (model, renderer) = self.snapshot();
        let user = Self::recipient(&model, &digest.user_id)?;
        let named;
        let digest = if digest
            .items
            .iter()
            .any(|n| registry_name(&model, &n.new.org_id, &n.new.event).is_some())
        {
            let mut copy = digest.clone();
            for item in &mut copy.items {
                if let Some(name) = registry_name(&model, &item.new.org_id, &item.new.event) {
                    item.new.event.vessel_name = Some(name);
                }
            }
            named = copy;
            &named
        } else {
            digest
        };
        let rendered = renderer.render_digest(digest, &user).map_err(|err| {
            tracing::error!(
                digest_id = %digest.id,
                user_id = %digest.user_id,
                template = %err.template,
                error = %err.message,
                "digest template failed"
            );
            metrics::counter!("lookout_template_errors_total").increment(1);
            SendError::Permanent(err.to_string())
        })?;
        self.send(
            &model,
            &user,
            &digest.id,
            digest.channel,
            &digest.destination,
            rendered,
        )
        .await
    }
}
