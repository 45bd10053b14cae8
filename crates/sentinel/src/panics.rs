//! How sentinel reads panics: [`panic_text`] turns a payload into its message, and
//! [`PANIC_ABORTS`] / [`warn_if_panic_abort`] tell whether panics can be caught at all.

use std::any::Any;

/// The text of a panic payload (what `catch_unwind` or a `JoinError` hands back): the message of
/// `panic!("...")`, or `<non-string panic payload>` for anything else.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
/// assert_eq!(sentinel::panic_text(payload.as_ref()), "boom 1");
/// ```
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// `true` when this build aborts on panic, so no panic can be caught and recovery cannot work.
pub const PANIC_ABORTS: bool = cfg!(panic = "abort");

/// Logs a loud warning, once per process, when built with `panic = "abort"`. Sentinel calls it on first use; call it
/// at start-up to be sure the warning appears early.
pub fn warn_if_panic_abort() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if PANIC_ABORTS {
        WARNED.call_once(|| {
            tracing::error!(
                "built with panic = \"abort\": a panic in any task kills the whole process; sentinel cannot \
                 isolate, restart or report it. Build with panic = \"unwind\" (the default)"
            );
        });
    }
}
