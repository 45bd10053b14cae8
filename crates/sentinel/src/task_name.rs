//! [`TaskName`]: the cheap-to-clone name of a task, loop or operation, used in logs, metrics and the registry.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The name of a task, loop or operation.
///
/// Built from a `&'static str` (free) or a `String`/`Cow` (one allocation, then shared): cloning never copies the
/// text. It is the `task` label of every metric and the `task` field of every log line sentinel emits, so keep
/// names few and stable (`"dispatcher"`, `"feed/tcp"`), not one per item.
#[derive(Clone)]
pub struct TaskName(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl TaskName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// The name as a metrics label value (no copy).
    pub(crate) fn label(&self) -> metrics::SharedString {
        match &self.0 {
            Repr::Static(s) => metrics::SharedString::const_str(s),
            Repr::Shared(s) => metrics::SharedString::from(Arc::clone(s)),
        }
    }
}

// Equality, hashing and order are those of the text: a name built from a `&'static str` equals the same name built
// from a `String`.
impl PartialEq for TaskName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TaskName {}

impl std::hash::Hash for TaskName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for TaskName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TaskName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl From<&'static str> for TaskName {
    fn from(s: &'static str) -> Self {
        TaskName(Repr::Static(s))
    }
}

impl From<String> for TaskName {
    fn from(s: String) -> Self {
        TaskName(Repr::Shared(Arc::from(s)))
    }
}

impl From<Cow<'static, str>> for TaskName {
    fn from(s: Cow<'static, str>) -> Self {
        match s {
            Cow::Borrowed(s) => s.into(),
            Cow::Owned(s) => s.into(),
        }
    }
}

impl From<&TaskName> for TaskName {
    fn from(s: &TaskName) -> Self {
        s.clone()
    }
}

impl AsRef<str> for TaskName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for TaskName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for TaskName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TaskName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_owned_names_with_the_same_text_are_equal() {
        let a = TaskName::from("dispatcher");
        let b = TaskName::from(String::from("dispatcher"));
        assert_eq!(a, b);
        let mut set = std::collections::HashSet::new();
        set.insert(a);
        assert!(set.contains(&b));
        assert_eq!(b.to_string(), "dispatcher");
        let (a, b) = (TaskName::from("a"), TaskName::from(String::from("b")));
        assert!(a < b);
    }
}
