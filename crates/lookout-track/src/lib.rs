//! Lookout areas, vessel tracking and event detection.

pub mod areas;
pub mod checkpoint;
pub mod runner;
pub mod sphere;
pub mod tracker;
