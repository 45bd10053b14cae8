//! Serving a simulation over TCP in accelerated time: the simulator listens, a feed's TCP client
//! source connects to it (`lookout simulate --tcp ADDR --rate R` + a `tcp_client` source).
//!
//! Delivery is lossless: each client has a bounded queue and the generator waits for the
//! slowest client, which is disconnected when its queue stays full for
//! [`ServeConfig::write_timeout`].

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{SimConfig, SimError, SimSummary, Simulation};

/// How to serve a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Simulated seconds per wall-clock second (60: an hour a minute). Infinite or zero: as
    /// fast as the clients read.
    pub rate: f64,
    /// Start simulating only when the first client has connected (so a demo misses nothing).
    pub wait_for_client: bool,
    /// Replace [`SimConfig::start`] by the wall-clock time at which simulating starts, so a live
    /// demo's events carry today's date (the simulated clock then runs `rate` times faster).
    pub live_start: bool,
    /// Most clients at once; more are closed at once.
    pub max_clients: usize,
    /// A client whose queue stays full (or whose socket accepts nothing) this long is dropped.
    pub write_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            rate: 60.0,
            wait_for_client: true,
            live_start: true,
            max_clients: 16,
            write_timeout: Duration::from_secs(10),
        }
    }
}

const CLIENT_QUEUE: usize = 1024;

/// Serves the simulation to every client that connects to `listener`, at `serve.rate`.
/// Returns when the simulated time is over (after the clients have been sent everything and
/// closed) or when `token` is cancelled.
///
/// Clients that connect late join the live stream; they do not get a replay.
///
/// # Cancel safety
/// Cancel the `token` rather than dropping the future, so client tasks end cleanly.
pub async fn serve_tcp(
    listener: TcpListener,
    sim: &SimConfig,
    serve: &ServeConfig,
    token: CancellationToken,
) -> Result<SimSummary, SimError> {
    // Validate now; rebuilt below when the start time is only known once a client is here.
    let mut simulation = Simulation::new(sim)?;
    let tracker = TaskTracker::new();
    let accept_token = token.child_token();
    let (joined_tx, mut joined_rx) =
        mpsc::channel::<mpsc::Sender<Arc<str>>>(serve.max_clients.max(1));
    let accept = sentinel::spawn(
        "sim-accept",
        accept_loop(
            listener,
            joined_tx,
            tracker.clone(),
            serve.clone(),
            accept_token.clone(),
        ),
    );
    let mut clients: Vec<mpsc::Sender<Arc<str>>> = Vec::new();
    let mut summary = SimSummary {
        vessels: simulation.vessel_count(),
        ..SimSummary::default()
    };
    if serve.wait_for_client {
        tokio::select! {
            () = token.cancelled() => {}
            joined = joined_rx.recv() => clients.extend(joined),
        }
    }
    if serve.live_start {
        let now = jiff::Timestamp::now();
        // Whole seconds, like the tag blocks.
        let start = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
        simulation = Simulation::new(&SimConfig {
            start,
            ..sim.clone()
        })?;
    }
    let paced = serve.rate.is_finite() && serve.rate > 0.0;
    let origin = Instant::now();
    while !token.is_cancelled() {
        let Some(record) = simulation.next() else {
            break;
        };
        while let Ok(client) = joined_rx.try_recv() {
            clients.push(client);
        }
        if paced {
            let due = origin + record.elapsed.div_f64(serve.rate);
            if due > Instant::now() {
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep_until(due) => {}
                }
            }
        }
        summary.add(&record);
        let text: Arc<str> = Arc::from(record.text);
        let mut alive = Vec::with_capacity(clients.len());
        for client in clients.drain(..) {
            let sent = tokio::select! {
                () = token.cancelled() => break,
                r = tokio::time::timeout(serve.write_timeout, client.send(Arc::clone(&text))) => r,
            };
            match sent {
                Ok(Ok(())) => alive.push(client),
                Ok(Err(_)) => {}
                Err(_) => {
                    tracing::warn!(target: "lookout_feed", "simulator client too slow, dropping it")
                }
            }
        }
        clients = alive;
    }
    drop(clients);
    drop(joined_rx);
    accept_token.cancel();
    let _ = accept.await;
    tracker.close();
    tracker.wait().await;
    match simulation.error() {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

async fn accept_loop(
    listener: TcpListener,
    joined: mpsc::Sender<mpsc::Sender<Arc<str>>>,
    tracker: TaskTracker,
    serve: ServeConfig,
    token: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    let slots = Arc::new(tokio::sync::Semaphore::new(serve.max_clients.max(1)));
    loop {
        let accepted = tokio::select! {
            () = token.cancelled() => return Ok(()),
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(target: "lookout_feed", error = %e, "simulator accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(target: "lookout_feed", %peer, "simulator client refused: too many clients");
            continue;
        };
        tracing::info!(target: "lookout_feed", %peer, "simulator client connected");
        let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
        if joined.send(tx).await.is_err() {
            return Ok(());
        }
        let write_timeout = serve.write_timeout;
        let task = tracker.track_future(async move {
            let _permit = permit;
            write_client(stream, rx, write_timeout).await;
            Ok::<(), std::convert::Infallible>(())
        });
        drop(sentinel::spawn("sim-client", task));
    }
}

/// Writes queued records to one client, batching what is queued, until the queue closes.
async fn write_client(
    mut stream: TcpStream,
    mut rx: mpsc::Receiver<Arc<str>>,
    write_timeout: Duration,
) {
    let mut batch = Vec::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        batch.clear();
        batch.extend_from_slice(first.as_bytes());
        while batch.len() < 60 * 1024 {
            match rx.try_recv() {
                Ok(more) => batch.extend_from_slice(more.as_bytes()),
                Err(_) => break,
            }
        }
        match tokio::time::timeout(write_timeout, stream.write_all(&batch)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::info!(target: "lookout_feed", error = %e, "simulator client gone");
                return;
            }
            Err(_) => {
                tracing::warn!(target: "lookout_feed", "simulator client stopped reading, dropping it");
                return;
            }
        }
    }
    let _ = tokio::time::timeout(write_timeout, stream.shutdown()).await;
}
