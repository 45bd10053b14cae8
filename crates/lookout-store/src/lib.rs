//! Lookout durable store: outbox, dispatcher, digests, checkpoints on SQLite and PostgreSQL.
