//! [`lock`](fn@lock), [`read`](fn@read) and [`write`](fn@write): the one way the workspace takes a
//! `std::sync::Mutex` or `RwLock` whose data a panic cannot leave inconsistent (poisoning ignored).

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, ignoring poisoning.
///
/// Use it only where every critical section is a single insert, remove or assignment (or a
/// read), so that a panic elsewhere while holding the lock cannot leave the data half-updated;
/// then a poisoned lock is still safe to use and refusing it would turn one panic into many.
///
/// ```
/// let counts = std::sync::Mutex::new(0);
/// *sentinel::sync::lock(&counts) += 1;
/// assert_eq!(*sentinel::sync::lock(&counts), 1);
/// ```
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `lock`, ignoring poisoning (same rule as [`lock`](fn@lock)).
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `lock`, ignoring poisoning (same rule as [`lock`](fn@lock)).
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
