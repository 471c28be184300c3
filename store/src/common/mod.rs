//! Rules every engine applies the same way (address keys, names, body analysis, queue
//! arithmetic), moved out of the embedded engine so the PostgreSQL one calls the same code.

pub(crate) mod directory;
pub(crate) mod events;
pub(crate) mod messages;
pub(crate) mod policy;
pub(crate) mod queue;
