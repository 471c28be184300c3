//! Session tests against a real store in a temporary directory: lines in, replies out, no
//! socket. One file per command group (STYLE §2), RFC sections on the lines they check.

mod fixture;

mod auth;
mod capa;
mod dele;
mod limits;
mod list;
mod quit;
mod retr;
mod states;
