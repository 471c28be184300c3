//! The store's behaviour, the same on every engine: each test runs once on the embedded
//! engine and once on PostgreSQL (see [`support`]). Engine-specific tests (the embedded
//! engine's files, WAL and group commit) stay beside their engine.

mod support;

mod accounts;
mod announced;
mod concurrency;
mod directory;
mod events;
mod mail;
mod mailboxes;
mod nodes;
mod policy;
mod reports;
