//! Delivery channels: SMTP email, signed webhooks, Slack incoming webhooks and Maildir.
//!
//! Every channel answers with `lookout_core::SendError`: `Permanent` when retrying cannot help
//! (SMTP 5xx, HTTP 4xx other than 408/429), `Transient` otherwise (timeouts, refused
//! connections, SMTP 4xx, HTTP 5xx/408/429 with the server's `Retry-After`). `Ok` means the
//! far side acknowledged: SMTP accepted the DATA, HTTP answered 2xx, the file is in `new/`.
//! Every network call runs under our own total timeout.

pub mod destination;
mod email;
mod http;
mod maildir;

pub use destination::DestinationPolicy;
pub use email::{EmailMessage, SmtpChannel, SmtpPolicy, SmtpSecurity, SmtpSettings, build_message};
pub use http::{
    HttpChannel, HttpSettings, SIGNATURE_HEADER, Trust, redact, sign, verify_signature,
};
pub use maildir::MaildirChannel;

/// A channel could not be set up (bad TLS parameters, HTTP client construction).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);
