//! Lookout configuration, rule matching, rendering and delivery channels.
