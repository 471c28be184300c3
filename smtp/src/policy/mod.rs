//! Inbound policy: what SMTP sessions ask while the client waits ("reject early, never
//! bounce"), besides the store. Each policy is a pure library part that a unit test can reach
//! without a socket, plus a thin actor that also learns from delivery events.

pub mod greylist;
pub mod spam;
