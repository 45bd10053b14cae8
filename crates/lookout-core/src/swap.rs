//! [`Swap`]: a value read by many and replaced whole by one (a reloaded model, a renderer), so
//! a reader holds one version for as long as it needs while the next is swapped in.

use std::sync::{Arc, RwLock};

/// A shared `Arc<T>` that can be replaced whole. Cheap to clone (clones share the value).
/// A panic while the lock was held does not poison it: the value is replaced or read whole.
#[derive(Debug)]
pub struct Swap<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Swap<T> {
    fn clone(&self) -> Self {
        Swap(Arc::clone(&self.0))
    }
}

impl<T> Swap<T> {
    /// Starts with `value`.
    pub fn new(value: Arc<T>) -> Swap<T> {
        Swap(Arc::new(RwLock::new(value)))
    }

    /// The value in force now.
    pub fn load(&self) -> Arc<T> {
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the value; readers holding the old one keep it until they drop it.
    pub fn store(&self, value: Arc<T>) {
        match self.0.write() {
            Ok(mut guard) => *guard = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_their_version_and_clones_see_the_new_one() {
        let a = Swap::new(Arc::new(1));
        let b = a.clone();
        let held = a.load();
        b.store(Arc::new(2));
        assert_eq!((*held, *a.load()), (1, 2));
    }
}
