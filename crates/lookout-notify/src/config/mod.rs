//! The notification side's configuration: the `Deserialize` structs of the `[smtp]` and
//! `[webhooks.<name>]` tables ([`SmtpConfig`], [`WebhookConfig`]; `[http_client]` is
//! [`HttpSettings`] itself), the address checks the SMTP channel agrees with
//! ([`check_address`], [`check_mailbox`]), and the resolved [`Config`] the [`crate::Router`]
//! is built from.
//!
//! The files themselves (`lookout.toml`, users, rules), their line numbers and the checks
//! across them belong to the binary (`lookout::config`), which builds the [`Model`].
//! Secrets never live in the files: `password_env`, `secret_env` and `url_env` name
//! environment variables, and whoever loads the configuration reads them.

use std::path::PathBuf;
use std::time::Duration;

use lettre::Address;
use lettre::message::Mailbox;
use lookout_core::config::duration;
use serde::{Deserialize, Deserializer};

use crate::channels::{DestinationPolicy, HttpSettings, SmtpSecurity, SmtpSettings};
use crate::model::Model;

/// The resolved notification configuration: templates, channels and the model.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Template overrides directory.
    pub templates_dir: Option<PathBuf>,
    /// SMTP, when email is configured.
    pub smtp: Option<SmtpSettings>,
    /// Webhook/Slack HTTP client settings.
    pub http_client: HttpSettings,
    /// `[destinations]`: where URLs a tenant set may lead.
    pub destinations: DestinationPolicy,
    /// Organisations, users, rules, vessels, fleets, webhooks.
    pub model: Model,
}

impl Config {
    /// The shipped templates plus the overrides of `templates_dir`, with every problem found
    /// there: unreadable, misnamed or unparsable files, and templates that fail to render
    /// sample data ([`crate::render::Renderer::self_test`]).
    ///
    /// Loading the configuration does not include these: `lookout check` should print them
    /// and fail, while `lookout run` should log them and go on, since a broken template fails
    /// only the notifications that use it.
    pub fn renderer(&self) -> (crate::render::Renderer, Vec<crate::render::TemplateProblem>) {
        let mut renderer = crate::render::Renderer::with_defaults();
        let mut problems = match &self.templates_dir {
            Some(dir) => renderer.load_dir(dir),
            None => Vec::new(),
        };
        problems.extend(renderer.self_test().into_iter().map(|err| {
            crate::render::TemplateProblem {
                path: err.template,
                message: err.message,
            }
        }));
        (renderer, problems)
    }
}

/// `[smtp]`: the mail server, as written.
///
/// ```toml
/// [smtp]
/// host = "smtp.example.com"
/// security = "starttls"          # none | starttls (default) | tls
/// port = 587                     # default by security: 25, 587, 465
/// username = "lookout"
/// password_env = "LOOKOUT_SMTP_PASSWORD"
/// from = "Lookout <alerts@example.com>"
/// pool_size = 8                  # idle connections kept for reuse
/// pool_idle_timeout = "60s"      # an idle connection is closed after this
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Server port; default by `security`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default, deserialize_with = "security")]
    pub security: SmtpSecurity,
    /// Login, when the server requires authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Sender mailbox, e.g. `Lookout <alerts@example.com>` (checked like the channel does).
    #[serde(deserialize_with = "mailbox")]
    pub from: String,
    /// Domain of `Message-ID`s; default the sender's domain.
    #[serde(default)]
    pub message_id_domain: Option<String>,
    /// Connect timeout (default 10 s).
    #[serde(default = "smtp_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// Bound on one whole send (default 60 s).
    #[serde(default = "smtp_total_timeout", with = "duration")]
    pub total_timeout: Duration,
    /// Idle connections kept for reuse (default [`SmtpSettings::DEFAULT_POOL_SIZE`], 8).
    #[serde(default = "smtp_pool_size")]
    pub pool_size: u32,
    /// A pooled connection unused this long is closed (default
    /// [`SmtpSettings::DEFAULT_POOL_IDLE_TIMEOUT`], 60 s).
    #[serde(default = "smtp_pool_idle_timeout", with = "duration")]
    pub pool_idle_timeout: Duration,
}

fn smtp_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

fn smtp_total_timeout() -> Duration {
    Duration::from_secs(60)
}

fn smtp_pool_size() -> u32 {
    SmtpSettings::DEFAULT_POOL_SIZE
}

fn smtp_pool_idle_timeout() -> Duration {
    SmtpSettings::DEFAULT_POOL_IDLE_TIMEOUT
}

impl SmtpConfig {
    /// The channel's settings, with the password read from `password_env`.
    pub fn into_settings(self, password: Option<String>) -> SmtpSettings {
        let port = self.port.unwrap_or(match self.security {
            SmtpSecurity::None => 25,
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
        });
        let domain = check_mailbox(&self.from)
            .map(|m| m.email.domain().to_owned())
            .unwrap_or_else(|_| "lookout.invalid".to_owned());
        SmtpSettings {
            host: self.host,
            port,
            security: self.security,
            username: self.username,
            password,
            from: self.from,
            message_id_domain: self.message_id_domain.unwrap_or(domain),
            connect_timeout: self.connect_timeout,
            total_timeout: self.total_timeout,
            pool_size: self.pool_size,
            pool_idle_timeout: self.pool_idle_timeout,
        }
    }
}

fn security<'de, D: Deserializer<'de>>(d: D) -> Result<SmtpSecurity, D::Error> {
    match String::deserialize(d)?.as_str() {
        "starttls" => Ok(SmtpSecurity::Starttls),
        "tls" => Ok(SmtpSecurity::Tls),
        "none" => Ok(SmtpSecurity::None),
        other => Err(serde::de::Error::custom(format!(
            "unknown security {other:?}: expected none, starttls or tls"
        ))),
    }
}

fn mailbox<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let from = String::deserialize(d)?;
    check_mailbox(&from).map_err(serde::de::Error::custom)?;
    Ok(from)
}

/// `[webhooks.<name>]`: an endpoint users' webhook channels name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL.
    #[serde(deserialize_with = "http_url")]
    pub url: String,
    /// Environment variable holding the HMAC secret; every webhook is signed, so a missing
    /// one is a problem the loader reports with that hint.
    #[serde(default)]
    pub secret_env: Option<String>,
}

fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url)
    } else {
        Err(serde::de::Error::custom(format!(
            "invalid url {url:?}: expected http:// or https://"
        )))
    }
}

/// A bare address (`alice@example.com`) as the SMTP channel will parse it.
///
/// # Errors
/// `implausible email address "..."`.
pub fn check_address(s: &str) -> Result<Address, String> {
    s.parse::<Address>()
        .map_err(|_| format!("implausible email address {s:?}"))
}

/// A mailbox (`Lookout <alerts@example.com>` or a bare address) as the SMTP channel parses
/// its sender and recipients.
///
/// # Errors
/// `implausible email address "..."`.
pub fn check_mailbox(s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>()
        .map_err(|_| format!("implausible email address {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_what_lettre_accepts() {
        for good in ["a@b.c", "alice.smith+nz@example.co.nz", "x@localhost"] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        for bad in ["alice.example.com", "a@", "@b.c", "a b@c.d", "a@b@c", ""] {
            assert_eq!(
                check_address(bad).unwrap_err(),
                format!("implausible email address {bad:?}")
            );
        }
        assert_eq!(
            check_mailbox("Lookout <alerts@example.com>")
                .unwrap()
                .email
                .domain(),
            "example.com"
        );
        assert!(check_mailbox("Lookout <alerts>").is_err());
    }

    #[test]
    fn smtp_defaults_follow_the_security() {
        let smtp: SmtpConfig =
            serde_json::from_str(r#"{"host":"h","from":"L <a@example.org>","security":"tls"}"#)
                .unwrap();
        let settings = smtp.into_settings(None);
        assert_eq!(settings.port, 465);
        assert_eq!(settings.message_id_domain, "example.org");
        assert_eq!(settings.connect_timeout, Duration::from_secs(10));
        let err =
            serde_json::from_str::<SmtpConfig>(r#"{"host":"h","from":"a@b.c","security":"ssl"}"#)
                .unwrap_err();
        assert!(
            err.to_string().contains("unknown security \"ssl\""),
            "{err}"
        );
    }
}
