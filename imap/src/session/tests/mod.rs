//! Session tests against a real store in a temporary directory: messages in, responses out,
//! no socket. One file per command or command family (STYLE §2); every response a test reads
//! is decoded with imap-codec first (`fixture`), so a malformed response fails the test. RFC
//! sections on the lines they check.

mod fixture;

mod append;
mod auth;
mod capability;
mod copy;
mod enable;
mod expunge;
mod fetch;
mod id;
mod idle;
mod list;
mod logout;
mod mailboxes;
mod namespace;
mod noop;
mod search;
mod select;
mod states;
mod status;
mod store;
