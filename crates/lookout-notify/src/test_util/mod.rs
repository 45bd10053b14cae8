//! Test support (feature `test-util`): real servers on 127.0.0.1 that accept, fail or hang on
//! command, so channel and dispatcher tests exercise real sockets.
//!
//! - [`SmtpServer`]: a small hand-written SMTP receiver (EHLO, MAIL, RCPT, DATA, RSET, NOOP,
//!   QUIT) with [`SmtpMode`]s for 4xx, 5xx and hanging after DATA.
//! - [`HttpReceiver`]: an axum server recording every request, answering per [`HttpMode`].
//!
//! Both stop when dropped.

mod http;
mod smtp;

pub use http::{HttpMode, HttpReceiver, ReceivedRequest};
pub use smtp::{ReceivedMail, SmtpMode, SmtpServer};

/// The one place this crate spawns: the test servers' accept loops and connections, through
/// `sentinel` like every other task (a panic in a test server is logged and counted, and the
/// test that uses it fails through its visible effect: no reply).
fn spawn_background<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    drop(sentinel::spawn("test-util/server", async move {
        fut.await;
        Ok::<(), std::convert::Infallible>(())
    }));
}
