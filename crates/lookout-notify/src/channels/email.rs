//! SMTP email through `lettre`, under our own total timeout.
//!
//! lettre's own timeout covers connecting (and socket reads where the executor supports it);
//! a server that accepts the connection and then stalls is bounded by
//! `tokio::time::timeout` around the whole send. The `Message-ID` is derived from the
//! notification id, so a duplicate send after a crash is recognisable as the same message.
//!
//! Connections are reused: the transport keeps up to [`SmtpSettings::pool_size`] idle
//! connections (lettre's pool), each closed after [`SmtpSettings::pool_idle_timeout`] unused.
//! A pooled connection is tested with `NOOP` before reuse, so one the server dropped is
//! replaced by a new one. The pool bounds idle connections, not concurrent sends (the
//! dispatcher's channel and destination caps do): a send beyond the pool opens its own
//! connection and closes it afterwards. The pool's idle reaper and the return of a connection
//! to the pool are tasks of lettre's own, started on the first send.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use lookout_core::SendError;

use crate::render::Rendered;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain text (local relays, tests).
    None,
    /// Plain text upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// Everything the SMTP channel needs.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Server host name.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub security: SmtpSecurity,
    /// Login, when the server requires authentication.
    pub username: Option<String>,
    /// Password (resolved from an environment variable, never from a file).
    pub password: Option<String>,
    /// Sender mailbox, e.g. `Lookout <alerts@example.com>`.
    pub from: String,
    /// Domain used in `Message-ID`s.
    pub message_id_domain: String,
    /// Connect (and per-command, where lettre supports it) timeout.
    pub connect_timeout: Duration,
    /// Bound on one whole send: connect, greeting, every command, DATA.
    pub total_timeout: Duration,
    /// Idle connections kept for reuse (default [`SmtpSettings::DEFAULT_POOL_SIZE`]).
    pub pool_size: u32,
    /// An idle pooled connection is closed after this long unused (default
    /// [`SmtpSettings::DEFAULT_POOL_IDLE_TIMEOUT`]).
    pub pool_idle_timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("connect_timeout", &self.connect_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("pool_size", &self.pool_size)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .finish()
    }
}

impl SmtpSettings {
    /// Default [`SmtpSettings::pool_size`]: idle connections kept for reuse.
    pub const DEFAULT_POOL_SIZE: u32 = 8;
    /// Default [`SmtpSettings::pool_idle_timeout`] (most servers close an idle session
    /// after a few minutes; a shorter idle time closes ours first).
    pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

    /// Plain SMTP to `host:port` with short timeouts (tests, local relays).
    pub fn plain(host: &str, port: u16, from: &str) -> SmtpSettings {
        SmtpSettings {
            host: host.to_owned(),
            port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: from.to_owned(),
            message_id_domain: "lookout.invalid".to_owned(),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(30),
            pool_size: SmtpSettings::DEFAULT_POOL_SIZE,
            pool_idle_timeout: SmtpSettings::DEFAULT_POOL_IDLE_TIMEOUT,
        }
    }
}

/// A message ready for any mail channel (SMTP or Maildir).
#[derive(Debug, Clone)]
pub struct EmailMessage {
    /// The RFC 5322 message.
    pub message: Message,
}

/// Builds a multipart/alternative (text + HTML) message with a `Message-ID` derived from `id`.
pub fn build_message(
    id: &str,
    from: &str,
    message_id_domain: &str,
    to: &str,
    rendered: &Rendered,
) -> Result<EmailMessage, SendError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| SendError::Permanent(format!("invalid sender address {from:?}: {e}")))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| SendError::Permanent(format!("invalid recipient address {to:?}: {e}")))?;
    let safe_id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(format!("<{safe_id}@{message_id_domain}>")));
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(rendered.text.clone());
    let result = match &rendered.html {
        Some(html) => builder.multipart(
            MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
        ),
        None => builder.singlepart(text),
    };
    result
        .map(|message| EmailMessage { message })
        .map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))
}

/// What the SMTP channel may do beyond its [`SmtpSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SmtpPolicy {
    /// Allow `security = none` together with a username and password, i.e. sending the
    /// password in clear text (`AUTH PLAIN` without TLS). Default `false`: such settings are
    /// refused when the channel is built. Only for a relay on the same host or a test server.
    pub allow_plaintext_auth: bool,
}

impl SmtpPolicy {
    /// A policy that allows plaintext AUTH (see [`SmtpPolicy::allow_plaintext_auth`]).
    pub fn allowing_plaintext_auth() -> SmtpPolicy {
        SmtpPolicy {
            allow_plaintext_auth: true,
        }
    }
}

/// Sends mail over SMTP, reusing connections (see the module documentation). Clones share
/// the connection pool.
#[derive(Clone)]
pub struct SmtpChannel {
    settings: SmtpSettings,
    builder: AsyncSmtpTransportBuilder,
    /// Built on the first send: lettre's pool starts a task when built, which needs the
    /// runtime that `new` may not run on.
    transport: Arc<OnceLock<AsyncSmtpTransport<Tokio1Executor>>>,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SmtpChannel {
    /// Builds the transport (no connection is made until the first send) with the default
    /// [`SmtpPolicy`]: credentials over `security = none` are refused.
    pub fn new(settings: SmtpSettings) -> Result<SmtpChannel, super::SetupError> {
        SmtpChannel::with_policy(settings, SmtpPolicy::default())
    }

    /// [`SmtpChannel::new`] under an explicit `policy`.
    pub fn with_policy(
        settings: SmtpSettings,
        policy: SmtpPolicy,
    ) -> Result<SmtpChannel, super::SetupError> {
        let has_credentials = settings.username.is_some() || settings.password.is_some();
        if settings.security == SmtpSecurity::None
            && has_credentials
            && !policy.allow_plaintext_auth
        {
            return Err(super::SetupError(format!(
                "smtp {}:{}: security = \"none\" with a username or password would send the password in clear text; \
                 use security = \"starttls\" or \"tls\", or set allow_plaintext_auth = true for a local relay",
                settings.host, settings.port
            )));
        }
        let tls = match settings.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls | SmtpSecurity::Tls => {
                let params = TlsParameters::new(settings.host.clone()).map_err(|e| {
                    super::SetupError(format!("smtp tls setup for {:?}: {e}", settings.host))
                })?;
                if settings.security == SmtpSecurity::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                .port(settings.port)
                .tls(tls)
                .timeout(Some(settings.connect_timeout))
                .pool_config(
                    PoolConfig::new()
                        .max_size(settings.pool_size)
                        .idle_timeout(settings.pool_idle_timeout),
                );
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(SmtpChannel {
            builder,
            transport: Arc::new(OnceLock::new()),
            settings,
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &SmtpSettings {
        &self.settings
    }

    /// Sends one message; `Ok` once the server accepted the DATA.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the connection; the server may or may not have accepted
    /// the message (the `Message-ID` lets a recipient spot the duplicate of a retry).
    pub async fn send(&self, message: &EmailMessage) -> Result<(), SendError> {
        let limit = self.settings.total_timeout;
        let transport = self.transport.get_or_init(|| self.builder.clone().build());
        match tokio::time::timeout(limit, transport.send(message.message.clone())).await {
            Err(_) => Err(SendError::Transient {
                reason: format!(
                    "smtp {}:{} timed out after {limit:?}",
                    self.settings.host, self.settings.port
                ),
                retry_after: None,
            }),
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(err)) => Err(classify_smtp(&err)),
        }
    }
}

fn classify_smtp(err: &lettre::transport::smtp::Error) -> SendError {
    let reason = format!("smtp: {err}");
    if err.is_permanent() {
        SendError::Permanent(reason)
    } else {
        SendError::Transient {
            reason,
            retry_after: None,
        }
    }
}
