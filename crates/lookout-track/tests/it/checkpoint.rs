//! Restart from a checkpoint in the middle of a track.
