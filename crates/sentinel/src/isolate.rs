//! Panic capture for one future: [`isolate`], the [`Isolate`] future and the [`Panicked`] error.
//!
//! This is the primitive every other part of sentinel builds on: observed tasks, supervisors and task groups all poll
//! their futures through [`Isolate`], so a panic becomes a value instead of unwinding into the runtime.
//!
//! # Where the panic location comes from
//!
//! `catch_unwind` only returns the panic payload (the message). The file and line come from the panic hook, which is
//! the only place the standard library reveals them. On first use sentinel installs a hook that chains to the
//! previous one: for panics raised while a sentinel future is being polled it records the location (and a backtrace
//! when `RUST_BACKTRACE` enables one) for the catcher and does **not** print the default "thread panicked" message,
//! because sentinel reports the panic once, through `tracing`, with the task name. Every other panic goes to the
//! previous hook unchanged. If the application replaces the hook later, sentinel still catches panics but reports
//! `location: None`.

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Once};
use std::task::{Context, Poll};

use crate::panics::panic_text;

pin_project_lite::pin_project! {
    /// Future returned by [`isolate`]: polls the inner future under `catch_unwind`.
    ///
    /// Resolves to `Ok(output)` or, if polling the inner future panicked, to `Err(Panicked)`. After a panic the inner
    /// future is never polled again; it is dropped together with this future.
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Isolate<F> {
        #[pin]
        inner: F,
    }
}

/// Runs one future under panic capture: a panic while polling it becomes `Err(Panicked)` instead of unwinding into
/// the caller.
///
/// Use it for per-item isolation in a batch loop, so one poisoned item is recorded (dead-lettered) and the loop goes
/// on with the rest:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut processed = 0;
/// let mut poisoned = Vec::new();
/// for item in 0..10u32 {
///     match sentinel::isolate(async move {
///         assert!(item != 7, "item {item} is poisoned");
///         item * 2
///     })
///     .await
///     {
///         Ok(_) => processed += 1,
///         Err(panicked) => poisoned.push((item, panicked.message().to_owned())),
///     }
/// }
/// assert_eq!(processed, 9);
/// assert_eq!(poisoned, vec![(7, "item 7 is poisoned".to_owned())]);
/// # }
/// ```
///
/// `isolate` does not log or count anything: the caller owns the error and decides how to record it. The future
/// does not need to be `Send`; nothing is spawned.
///
/// # Why `AssertUnwindSafe` is sound here
///
/// `catch_unwind` asks for [`UnwindSafe`](std::panic::UnwindSafe) so that code cannot observe state a panic left
/// half-updated. `isolate` asserts it for the future because:
///
/// - the panicking future itself is never polled again: its (possibly broken) state is only dropped;
/// - values the future owns (the item, moved in) are dropped with it, so nobody observes them;
/// - what remains is state the future *shares* with the caller (`&mut` captures, `Rc<RefCell<_>>`, `Arc<Mutex<_>>`).
///   A `std::sync::Mutex` held during the panic is poisoned, so its next user sees it; a `tokio::sync::Mutex` or a
///   `RefCell` is not. Treat anything a panicking item could write through a shared reference as suspect, or pass
///   each item its own data by value, as the batch pattern above does.
///
/// This is the same trade-off `tokio::spawn` makes when it catches a panicking task.
///
/// # Cancel safety
///
/// Dropping the returned future drops the inner future; it is exactly as cancel safe as the inner future.
pub fn isolate<F: Future>(fut: F) -> Isolate<F> {
    install_hook();
    Isolate { inner: fut }
}

impl<F: Future> Future for Isolate<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        let _capturing = CaptureScope::enter();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(Panicked::from_payload(payload))),
        }
    }
}

/// A captured panic: its message, where it happened and, when `RUST_BACKTRACE` is set, the backtrace.
#[derive(Debug, Clone, thiserror::Error)]
#[error("panicked at {}: {message}", location.as_deref().unwrap_or("<unknown location>"))]
pub struct Panicked {
    message: String,
    location: Option<String>,
    backtrace: Option<Arc<str>>,
}

impl Panicked {
    /// The panic message (`"..."` from `panic!("...")`), or a placeholder when the payload was not a string.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `file:line:column` of the panic, when sentinel's panic hook saw it.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The backtrace captured at the panic, when `RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` enabled one.
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_deref()
    }

    /// Splits the error into `(message, location, backtrace)`.
    pub(crate) fn into_parts(self) -> (String, Option<String>, Option<Arc<str>>) {
        (self.message, self.location, self.backtrace)
    }

    /// Builds a `Panicked` from a `catch_unwind`/`JoinError` payload, taking the site the hook recorded on this thread.
    pub(crate) fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        let message = panic_text(payload.as_ref());
        // Dropping a payload can itself panic (a panicking Drop inside it); never let that escape.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        let site = LAST_PANIC.with(|last| last.borrow_mut().take());
        let (location, backtrace) = site.map_or((None, None), |s| (s.location, s.backtrace));
        Panicked {
            message,
            location,
            backtrace,
        }
    }
}

struct PanicSite {
    location: Option<String>,
    backtrace: Option<Arc<str>>,
}

thread_local! {
    /// How many sentinel captures are active on this thread (nested `isolate` inside an observed task counts twice).
    static CAPTURE_DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The site of the last panic raised under a capture on this thread, taken by the catcher.
    static LAST_PANIC: RefCell<Option<PanicSite>> = const { RefCell::new(None) };
}

struct CaptureScope;

impl CaptureScope {
    fn enter() -> Self {
        CAPTURE_DEPTH.with(|d| d.set(d.get() + 1));
        CaptureScope
    }
}

impl Drop for CaptureScope {
    fn drop(&mut self) {
        CAPTURE_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Installs sentinel's chaining panic hook once per process (see the module docs).
pub(crate) fn install_hook() {
    static HOOK: Once = Once::new();
    // `take_hook`/`set_hook` panic when called from a panicking thread; try again on a later call instead.
    if std::thread::panicking() {
        return;
    }
    HOOK.call_once(|| {
        crate::panics::warn_if_panic_abort();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let capturing = CAPTURE_DEPTH.try_with(|d| d.get() > 0).unwrap_or(false);
            if !capturing {
                previous(info);
                return;
            }
            let location = info.location().map(|l| l.to_string());
            let backtrace = Backtrace::capture();
            let backtrace = (backtrace.status() == BacktraceStatus::Captured)
                .then(|| Arc::from(backtrace.to_string()));
            let _ = LAST_PANIC.try_with(|last| {
                *last.borrow_mut() = Some(PanicSite {
                    location,
                    backtrace,
                })
            });
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panic_is_captured_with_message_and_location() {
        let err = isolate(async { panic!("boom {}", 42) }).await.unwrap_err();
        assert_eq!(err.message(), "boom 42");
        let location = err.location().unwrap();
        assert!(location.contains("isolate.rs"), "{location}");
        assert!(err.to_string().starts_with("panicked at "), "{err}");
    }

    #[tokio::test]
    async fn ok_passes_through_and_non_string_payload_is_named() {
        assert_eq!(isolate(async { 5 }).await.unwrap(), 5);
        let err = isolate(async { std::panic::panic_any(17u8) })
            .await
            .unwrap_err();
        assert_eq!(err.message(), "<non-string panic payload>");
    }

    #[tokio::test]
    async fn nested_isolation_reports_to_the_innermost_catcher() {
        let outer = isolate(async {
            let inner = isolate(async { panic!("inner") }).await;
            inner.unwrap_err().message().to_owned()
        })
        .await
        .unwrap();
        assert_eq!(outer, "inner");
    }
}
