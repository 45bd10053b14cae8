//! The small webhook receiver `lookout demo` runs for itself: it accepts signed JSON POSTs on
//! loopback, verifies nothing (it is a demo sink), and appends each body as one line to a file so
//! the user can watch webhooks arrive next to the Maildir.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// Shared state of the receiver.
#[derive(Debug)]
pub struct Receiver {
    path: PathBuf,
    file: Mutex<Option<tokio::fs::File>>,
    received: AtomicU64,
}

impl Receiver {
    /// A receiver appending to `path` (created on the first request).
    pub fn new(path: PathBuf) -> Arc<Receiver> {
        Arc::new(Receiver {
            path,
            file: Mutex::new(None),
            received: AtomicU64::new(0),
        })
    }

    /// How many webhooks arrived.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The router: `POST /hook` appends the body and answers 204.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(self))
    }
}

async fn receive(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let mut guard = rx.file.lock().await;
    if guard.is_none() {
        match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&rx.path)
            .await
        {
            Ok(file) => *guard = Some(file),
            Err(err) => {
                tracing::error!(path = %rx.path.display(), error = %err, "demo receiver cannot open its file");
                return StatusCode::SERVICE_UNAVAILABLE;
            }
        }
    }
    let Some(file) = guard.as_mut() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let mut line = body.to_vec();
    line.retain(|b| *b != b'\n');
    line.push(b'\n');
    // tokio's File hands writes to a blocking thread: flush, so the line is in the file
    // before the webhook is acknowledged (and counted).
    if let Err(err) = async {
        file.write_all(&line).await?;
        file.flush().await
    }
    .await
    {
        tracing::error!(path = %rx.path.display(), error = %err, "demo receiver cannot write");
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    rx.received.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(idempotency_key = %key, "demo webhook received");
    StatusCode::NO_CONTENT
}
