//! Lookout areas, vessel tracking and event detection.
