//! Inbound policy actors that SMTP sessions ask while the client waits ("reject early, never
//! bounce"): each decides from what the session knows and what it learned from deliveries.

pub mod greylist;
