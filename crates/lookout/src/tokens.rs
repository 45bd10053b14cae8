//! API tokens: `lk_` and 64 hex digits (32 bytes from the operating system), shown once when
//! created; the store keeps only the SHA-256 of the whole token ([`hash`]), so a leaked
//! database gives no usable token. [`authenticate`] turns a presented token into its
//! [`ApiToken`] (organisation and role), refusing unknown and revoked ones.

use lookout_store::Store;
use lookout_store::model::{ApiToken, Audit, Role};
use sha2::{Digest, Sha256};

/// Every token starts with this.
pub const PREFIX: &str = "lk_";

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The operating system's random source failed.
    #[error("cannot read random bytes for a token: {0}")]
    Random(String),
    /// The organisation does not exist in the store.
    #[error("unknown organisation {0:?}: import it first (lookout import --config FILE)")]
    UnknownOrg(String),
    /// An operator token names an organisation, or an organisation token none.
    #[error("{0}")]
    Scope(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] lookout_store::StoreError),
}

/// The SHA-256 of `token`, in hex: what the store keeps and looks tokens up by.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(n_bytes: usize) -> Result<String, TokenError> {
    let mut buf = vec![0u8; n_bytes];
    getrandom::fill(&mut buf).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// Creates a token for `org` (`None` with [`Role::Operator`] only) and returns it with its
/// secret, which is not stored and cannot be shown again. `actor` goes into the audit log.
///
/// # Errors
/// See [`TokenError`].
pub async fn create(
    store: &Store,
    org: Option<&str>,
    role: Role,
    name: &str,
    actor: &str,
) -> Result<(ApiToken, String), TokenError> {
    match (org, role) {
        (Some(_), Role::Operator) => {
            return Err(TokenError::Scope(
                "an operator token belongs to no organisation: drop --org",
            ));
        }
        (None, r) if r != Role::Operator => {
            return Err(TokenError::Scope(
                "an organisation token needs --org (or use --operator)",
            ));
        }
        _ => {}
    }
    if let Some(org) = org
        && store.org(org).await?.is_none()
    {
        return Err(TokenError::UnknownOrg(org.to_owned()));
    }
    let secret = format!("{PREFIX}{}", random_hex(32)?);
    let id = format!("tok_{}", random_hex(8)?);
    let audit = Audit {
        detail: serde_json::json!({ "role": role.as_str(), "name": name }),
        ..Audit::new(actor, "token.create", &format!("token/{id}"))
    };
    let token = store
        .create_token(&id, org, role, name, &hash(&secret), &audit)
        .await?;
    Ok((token, secret))
}

/// The live token `presented` is, or `None` (unknown, malformed or revoked).
///
/// # Errors
/// The store failed.
pub async fn authenticate(
    store: &Store,
    presented: &str,
) -> Result<Option<ApiToken>, lookout_store::StoreError> {
    if !presented.starts_with(PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    Ok(store
        .token_by_hash(&hash(presented))
        .await?
        .filter(|t| t.revoked_at.is_none()))
}
