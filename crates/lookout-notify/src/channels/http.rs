//! Webhooks and Slack incoming webhooks over HTTP with `reqwest`.
//!
//! Webhook requests carry `Idempotency-Key: <notification id>` and, in the Stripe style,
//! `X-Lookout-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<idempotency key>.<body>">`
//! keyed with the endpoint's secret. The timestamp and the key are signed with the body, so a
//! captured request cannot be replayed later or under another key: a receiver recomputes the
//! HMAC, compares it in constant time, rejects a `t` further than its tolerance (5 minutes is
//! usual) from its own clock, and dedupes by `Idempotency-Key` ([`verify_signature`] does the
//! first three). Slack requests carry the same `Idempotency-Key` as a hint. A webhook URL a tenant
//! set through the API is not signed (the secret is the operator's, for the operator's
//! endpoints); it carries the same `Idempotency-Key`.
//!
//! URLs a tenant set ([`Trust::Tenant`]) go through a second client bound by the
//! [`DestinationPolicy`] (see [`super::destination`]); the operator's own go as written.
//!
//! Status classes: 2xx ok; 408, 429 and 5xx transient (honouring `Retry-After` in seconds or as
//! an HTTP date); other 4xx permanent; timeouts and connection errors transient. No error text
//! ever contains a URL's path or query (Slack webhook URLs are secrets): reqwest errors are
//! stripped with `without_url()` and URLs are reduced to scheme, host and port.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit as _, Mac as _};
use jiff::Timestamp;
use lookout_core::SendError;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use sha2::Sha256;

use super::destination::{self, DestinationPolicy, GuardedResolver};

/// The signature header name.
pub const SIGNATURE_HEADER: &str = "X-Lookout-Signature";

/// HTTP client settings (`[http_client]` in configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// TCP (and TLS) connect timeout.
    #[serde(with = "lookout_core::config::duration")]
    pub connect_timeout: Duration,
    /// Bound on one whole request, response body included.
    #[serde(with = "lookout_core::config::duration")]
    pub total_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(15),
        }
    }
}

/// The HMAC of `"<t>.<idempotency_key>.<body>"` under `secret`.
fn signature_mac(
    secret: &[u8],
    t: i64,
    idempotency_key: &str,
    body: &[u8],
) -> Option<Hmac<Sha256>> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(idempotency_key.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The signature header value `t=<unix seconds>,v1=<hex>` for `body` sent at `at` under
/// `idempotency_key`: HMAC-SHA256 of `"<t>.<idempotency_key>.<body>"` keyed with `secret`.
pub fn sign(secret: &[u8], at: Timestamp, idempotency_key: &str, body: &[u8]) -> String {
    let t = at.as_second();
    match signature_mac(secret, t, idempotency_key, body) {
        Some(mac) => format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes())),
        None => String::new(),
    }
}

/// What a receiver does with a signature header: true when `header` is `t=…,v1=…`, the HMAC
/// matches `"<t>.<idempotency_key>.<body>"` (compared in constant time) and `t` is within
/// `tolerance` of `now` (either side). Dedupe by `Idempotency-Key` on top of this.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    idempotency_key: &str,
    body: &[u8],
    now: Timestamp,
    tolerance: Duration,
) -> bool {
    let mut t = None;
    let mut sig = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sig = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(sig)) = (t, sig) else {
        return false;
    };
    let age = now.as_second().abs_diff(t);
    if age > tolerance.as_secs() {
        return false;
    }
    match signature_mac(secret, t, idempotency_key, body) {
        Some(mac) => mac.verify_slice(&sig).is_ok(),
        None => false,
    }
}

/// Makes `ring` the process's rustls crypto provider: the workspace's one TLS provider (reqwest is
/// built with `rustls-no-provider`; lettre uses ring too).
fn install_tls_provider() {
    // `Err` means a provider is already installed (this one, or one the binary chose): keep it.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Who set a destination URL, hence which client sends to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The operator's files: sent as written (the demo's loopback receivers, internal hosts).
    Operator,
    /// A tenant, through the API: checked against the [`DestinationPolicy`] before the send
    /// and at connect time, sent with no proxy.
    Tenant,
}

/// Posts JSON to webhooks and Slack.
#[derive(Debug, Clone)]
pub struct HttpChannel {
    client: reqwest::Client,
    /// The client for tenant URLs: the policy's resolver, no proxy.
    tenant_client: reqwest::Client,
    policy: Arc<DestinationPolicy>,
    settings: HttpSettings,
}

impl HttpChannel {
    /// Builds the clients, with the default destination policy for tenant URLs.
    pub fn new(settings: HttpSettings) -> Result<HttpChannel, super::SetupError> {
        HttpChannel::with_policy(settings, DestinationPolicy::default())
    }

    /// Builds the clients; tenant URLs are checked against `policy`.
    pub fn with_policy(
        settings: HttpSettings,
        policy: DestinationPolicy,
    ) -> Result<HttpChannel, super::SetupError> {
        let policy = Arc::new(policy);
        let resolver = GuardedResolver::new(Arc::clone(&policy));
        HttpChannel::with_resolver(settings, policy, resolver)
    }

    /// Builds the clients with `resolver` for tenant URLs (tests: a name that rebinds).
    pub fn with_resolver(
        settings: HttpSettings,
        policy: Arc<DestinationPolicy>,
        resolver: GuardedResolver,
    ) -> Result<HttpChannel, super::SetupError> {
        install_tls_provider();
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(settings.connect_timeout)
                .timeout(settings.total_timeout)
                .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
                // A signed body is never re-sent elsewhere, and a tenant's URL must not
                // redirect past the policy: a 3xx answer is a permanent failure.
                .redirect(reqwest::redirect::Policy::none())
        };
        let fail = |e: reqwest::Error| super::SetupError(format!("cannot build http client: {e}"));
        let client = builder().build().map_err(fail)?;
        let tenant_client = builder()
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .build()
            .map_err(fail)?;
        Ok(HttpChannel {
            client,
            tenant_client,
            policy,
            settings,
        })
    }

    /// The policy tenant URLs are checked against.
    pub fn policy(&self) -> &DestinationPolicy {
        &self.policy
    }

    /// The client for `trust`, after the policy's check of a tenant URL (a literal address
    /// never reaches the resolver, so it is checked here; a refusal is permanent).
    fn client_for(&self, url: &str, trust: Trust) -> Result<&reqwest::Client, SendError> {
        match trust {
            Trust::Operator => Ok(&self.client),
            Trust::Tenant => match self.policy.check_url(url) {
                Ok(()) => Ok(&self.tenant_client),
                Err(problem) => Err(SendError::Permanent(format!(
                    "POST {}: {problem}",
                    redact(url)
                ))),
            },
        }
    }

    /// Posts a webhook body, signed when there is a `secret` (an operator's endpoint; a URL a
    /// tenant set has none). `Ok` on 2xx.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the request; the receiver dedupes by `Idempotency-Key`.
    pub async fn send_webhook(
        &self,
        url: &str,
        secret: Option<&[u8]>,
        idempotency_key: &str,
        body: String,
        trust: Trust,
    ) -> Result<(), SendError> {
        let mut request = self
            .client_for(url, trust)?
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", idempotency_key);
        if let Some(secret) = secret {
            let signature = sign(secret, Timestamp::now(), idempotency_key, body.as_bytes());
            request = request.header(SIGNATURE_HEADER, signature);
        }
        self.execute(url, request.body(body)).await
    }

    /// Posts a Slack incoming-webhook payload. `Ok` on 2xx.
    ///
    /// `idempotency_key` (the notification id) goes out as `Idempotency-Key`, a hint for
    /// proxies and Slack-compatible receivers that dedupe.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the request; Slack may or may not have posted it.
    pub async fn send_slack(
        &self,
        url: &str,
        idempotency_key: &str,
        body: String,
        trust: Trust,
    ) -> Result<(), SendError> {
        let request = self
            .client_for(url, trust)?
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", idempotency_key)
            .body(body);
        self.execute(url, request).await
    }

    async fn execute(&self, url: &str, request: reqwest::RequestBuilder) -> Result<(), SendError> {
        // reqwest's own timeout bounds the request; this outer one also bounds anything
        // reqwest might not (belt and braces, same limit plus a little).
        let limit = self.settings.total_timeout + Duration::from_millis(250);
        let response = match tokio::time::timeout(limit, request.send()).await {
            Err(_) => {
                return Err(SendError::Transient {
                    reason: format!("POST {} timed out after {limit:?}", redact(url)),
                    retry_after: None,
                });
            }
            Ok(Err(err)) => {
                // The tenant resolver refused every address the name has now: permanent.
                if let Some(refusal) = destination::refusal_in(&err) {
                    return Err(SendError::Permanent(format!(
                        "POST {}: {refusal}",
                        redact(url)
                    )));
                }
                let what = if err.is_timeout() {
                    "timed out"
                } else if err.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                // reqwest's Display appends the URL, which for Slack is the secret.
                let err = err.without_url();
                return Err(SendError::Transient {
                    reason: format!("POST {} {what}: {err}", redact(url)),
                    retry_after: None,
                });
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = retry_after(response.headers(), Timestamp::now());
        classify_status(url, status, retry_after)
    }
}

/// The URL without path, query or credentials, for error messages and logs (Slack URLs carry secrets in the
/// path, so only scheme and host are kept).
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or("?"),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "<invalid url>".to_owned(),
    }
}

fn classify_status(
    url: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
) -> Result<(), SendError> {
    let reason = format!("POST {} answered {status}", redact(url));
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Err(SendError::Transient {
            reason,
            retry_after,
        })
    } else {
        Err(SendError::Permanent(reason))
    }
}

/// Parses `Retry-After` as delta-seconds or an HTTP date (relative to `now`).
fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let delta = at.duration_since(now);
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn signature_round_trips_and_covers_time_and_key() {
        let at: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let tol = Duration::from_secs(300);
        let body = b"{\"a\":1}";
        let sig = sign(b"k", at, "id-1", body);
        assert!(sig.starts_with("t=1735689600,v1="), "{sig}");
        assert!(verify_signature(b"k", &sig, "id-1", body, at, tol));
        assert!(verify_signature(
            b"k",
            &sig,
            "id-1",
            body,
            at + jiff::SignedDuration::from_secs(299),
            tol
        ));
        // Replayed later than the tolerance.
        assert!(!verify_signature(
            b"k",
            &sig,
            "id-1",
            body,
            at + jiff::SignedDuration::from_secs(301),
            tol
        ));
        // Another key, secret or body.
        assert!(!verify_signature(b"k", &sig, "id-2", body, at, tol));
        assert!(!verify_signature(b"other", &sig, "id-1", body, at, tol));
        assert!(!verify_signature(b"k", &sig, "id-1", b"{\"a\":2}", at, tol));
        // A forged timestamp with the old HMAC.
        let forged = sig.replace("t=1735689600", "t=1735689900");
        assert!(!verify_signature(
            b"k",
            &forged,
            "id-1",
            body,
            at + jiff::SignedDuration::from_secs(300),
            tol
        ));
        assert!(!verify_signature(b"k", "sha256=00", "id-1", body, at, tol));
    }

    #[test]
    fn redact_keeps_only_scheme_host_port() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T000/B000/SECRETxyz?x=1"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            redact("http://user:pw@127.0.0.1:9/a/b"),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 01 Jan 2025 00:02:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(120)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn statuses_are_classified() {
        let u = "http://127.0.0.1:1/x";
        assert!(
            !classify_status(u, StatusCode::NOT_FOUND, None)
                .unwrap_err()
                .is_retryable()
        );
        assert!(
            classify_status(u, StatusCode::REQUEST_TIMEOUT, None)
                .unwrap_err()
                .is_retryable()
        );
        assert!(
            classify_status(u, StatusCode::TOO_MANY_REQUESTS, None)
                .unwrap_err()
                .is_retryable()
        );
        assert!(
            classify_status(u, StatusCode::BAD_GATEWAY, None)
                .unwrap_err()
                .is_retryable()
        );
    }
}
