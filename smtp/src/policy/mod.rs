//! Inbound policy: the checks that decide what happens to a message besides its delivery
//! (authentication, greylisting, spam scoring). Each policy is a pure library part that a
//! unit test can reach without a socket, plus a thin actor the SMTP session asks.

pub mod spam;
