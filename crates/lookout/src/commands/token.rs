//! `lookout token create|list|revoke`: API tokens in the configured store. A new token is
//! printed once, on stdout alone (so `lookout token create ... > file` keeps just the token);
//! the store keeps its SHA-256.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use lookout_store::model::{Audit, Role};

use crate::error::UsageError;
use crate::runtime::runtime;
use crate::setup;

/// `lookout token`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `lookout token` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Create a token and print it (once).
    Create {
        /// Path of `lookout.toml` (its store).
        #[arg(long, short)]
        config: PathBuf,
        /// The organisation the token acts for.
        #[arg(
            long,
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        org: Option<String>,
        /// admin (users, tokens), editor (rules, areas, vessels, fleets, silences) or viewer.
        #[arg(long, required_unless_present = "operator", value_parser = ["admin", "editor", "viewer"])]
        role: Option<String>,
        /// An instance-wide operator token (no organisation).
        #[arg(long)]
        operator: bool,
        /// A label shown by `lookout token list`.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (never their secrets).
    List {
        /// Path of `lookout.toml`.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Revoke a token by id.
    Revoke {
        /// Path of `lookout.toml`.
        #[arg(long, short)]
        config: PathBuf,
        /// The token id (`tok_…`, from `lookout token list`).
        id: String,
    },
}

/// Runs `lookout token`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = match &args.action {
        Action::Create { config, .. } | Action::List { config } | Action::Revoke { config, .. } => {
            config
        }
    };
    let config = setup::load_config(config, &crate::config::ProcessEnv)?;
    runtime()?.block_on(async {
        let store = setup::open_store(&config.store.url).await?;
        let result = act(&store, &args.action).await;
        store.close().await;
        let text = result?;
        let mut out = std::io::stdout().lock();
        write!(out, "{text}")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Does `action` on `store`; returns what to print.
///
/// # Errors
/// A usage problem (unknown organisation, unknown token); a database error.
pub async fn act(store: &lookout_store::Store, action: &Action) -> anyhow::Result<String> {
    match action {
        Action::Create {
            org,
            role,
            operator,
            name,
            ..
        } => {
            let role = match (operator, role.as_deref()) {
                (true, _) => Role::Operator,
                (false, Some(r)) => {
                    Role::parse(r).ok_or_else(|| UsageError(format!("unknown role {r:?}")))?
                }
                (false, None) => return Err(UsageError("give --role or --operator".into()).into()),
            };
            let created = crate::tokens::create(store, org.as_deref(), role, name, "cli").await;
            let (token, secret) = created.map_err(|e| match e {
                crate::tokens::TokenError::UnknownOrg(_) | crate::tokens::TokenError::Scope(_) => {
                    anyhow::Error::new(UsageError(e.to_string()))
                }
                other => anyhow::Error::new(other),
            })?;
            tracing::info!(id = %token.id, role = token.role.as_str(), org = ?token.org_id, "token created");
            Ok(format!("{secret}\n"))
        }
        Action::List { .. } => {
            let mut text = String::from("id\torg\trole\tname\tcreated_at\trevoked_at\n");
            for t in store.tokens().await? {
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\n",
                    t.id,
                    t.org_id.as_deref().unwrap_or("-"),
                    t.role.as_str(),
                    t.name,
                    t.created_at,
                    t.revoked_at
                        .map_or_else(|| "-".to_owned(), |at| at.to_string()),
                ));
            }
            Ok(text)
        }
        Action::Revoke { id, .. } => {
            let audit = Audit::new("cli", "token.revoke", &format!("token/{id}"));
            if store.revoke_token(id, &audit).await? {
                Ok(format!("revoked {id}\n"))
            } else {
                Err(UsageError(format!("no live token {id:?} (see lookout token list)")).into())
            }
        }
    }
}
