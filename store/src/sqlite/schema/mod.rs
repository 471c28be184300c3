//! The SQLite schema and its versioned migrations. Nothing else creates or alters tables.

pub(crate) mod migrations;
