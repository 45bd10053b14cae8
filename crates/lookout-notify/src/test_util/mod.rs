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

/// The one place this crate spawns: the test servers' accept loops and connections.
///
/// `sentinel::spawn` is the project's way to spawn, but these are test-only helpers and the
/// crate does not otherwise depend on `sentinel`; a server task failing fails the test that
/// uses it through its visible effect (no reply).
#[allow(clippy::disallowed_methods)]
fn spawn_background<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    drop(tokio::spawn(fut));
}
