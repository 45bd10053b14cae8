//! Lookout areas, vessel tracking and event detection.

pub mod areas;
pub mod sphere;
pub mod tracker;
