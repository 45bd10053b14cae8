//! A loopback HTTP receiver (axum) that records requests and answers, fails or hangs on command.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

/// How the receiver answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpMode {
    /// `200 OK`.
    Ok,
    /// This status, with an optional `Retry-After` value.
    Status(u16, Option<String>),
    /// Record the request, then never answer.
    Hang,
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// Request path.
    pub path: String,
    /// Headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Inner {
    mode: HttpMode,
    received: Vec<ReceivedRequest>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    stop: watch::Receiver<bool>,
}

/// A running HTTP receiver; stops when dropped.
pub struct HttpReceiver {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _stop: watch::Sender<bool>,
}

impl std::fmt::Debug for HttpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpReceiver")
            .field("addr", &self.addr)
            .finish()
    }
}

async fn handle(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mode = {
        let mut inner = sentinel::sync::lock(&shared.inner);
        inner.received.push(ReceivedRequest {
            path: uri.path().to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: body.to_vec(),
        });
        inner.mode.clone()
    };
    match mode {
        HttpMode::Ok => (StatusCode::OK, "ok").into_response(),
        HttpMode::Status(code, retry_after) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match retry_after {
                Some(v) => (status, [("retry-after", v)], "failing on command").into_response(),
                None => (status, "failing on command").into_response(),
            }
        }
        HttpMode::Hang => {
            let mut stop = shared.stop.clone();
            let _ = stop.changed().await;
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
        }
    }
}

impl HttpReceiver {
    /// Binds 127.0.0.1:0 and starts serving.
    pub async fn start(mode: HttpMode) -> std::io::Result<HttpReceiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            mode,
            received: Vec::new(),
        }));
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Shared {
            inner: Arc::clone(&inner),
            stop: stop_rx.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let mut stop = stop_rx;
        super::spawn_background(async move {
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        Ok(HttpReceiver {
            addr,
            inner,
            _stop: stop_tx,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Changes how later requests are answered.
    pub fn set_mode(&self, mode: HttpMode) {
        sentinel::sync::lock(&self.inner).mode = mode;
    }

    /// Requests received so far.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        sentinel::sync::lock(&self.inner).received.clone()
    }
}
