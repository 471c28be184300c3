//! Opening the store: the configuration picks the engine, and [`start`] puts the
//! [`MailboxStore`] actor in front of it. The one place that names an engine.

use std::path::Path;
use std::sync::Arc;

use actix::Addr;
use mailroom_config::{Config, StoreEngine};
use mailroom_shared::bus::Bus;

use crate::actor::MailboxStore;
use crate::engine::Engine;
use crate::error::StoreError;
use crate::postgres::PgEngine;
use crate::sqlite::SqliteBackend;

/// Open the engine `config` names (the embedded one in `server.data_dir`, or PostgreSQL at
/// `store.url`): run its migrations and start it. Blocks while that takes; call it at
/// startup.
pub fn open(config: &Config) -> Result<Arc<dyn Engine>, StoreError> {
    match (config.store.engine, &config.store.url) {
        (StoreEngine::Embedded, _) => embedded(&config.server.data_dir),
        (StoreEngine::Postgres, Some(url)) => Ok(Arc::new(PgEngine::open(
            url,
            config.store.pool_size as usize,
            &node_name(config),
        )?)),
        (StoreEngine::Postgres, None) => Err(StoreError::Invalid(
            "store.engine = \"postgres\" needs store.url".into(),
        )),
    }
}

/// This node's name in queue leases: `cluster.node_name`, or the hostname and process id.
pub fn node_name(config: &Config) -> String {
    config
        .cluster
        .node_name
        .clone()
        .unwrap_or_else(|| format!("{}:{}", config.server.hostname, std::process::id()))
}

/// Open the engine of `config` and start the store actor over it on the current arbiter
/// (inside a running actix System).
pub fn start(config: &Config, bus: Bus) -> Result<Addr<MailboxStore>, StoreError> {
    Ok(MailboxStore::start_with(open(config)?, bus))
}

/// Like [`open`], for the CLI: when a server already holds the data directory, open beside
/// it instead of failing (the engine then leaves body files and the WAL to the server).
/// PostgreSQL is shared by design, so it opens as usual.
pub fn open_beside_server(config: &Config) -> Result<Arc<dyn Engine>, StoreError> {
    match config.store.engine {
        StoreEngine::Embedded => Ok(Arc::new(SqliteBackend::open_beside_server(
            &config.server.data_dir,
        )?)),
        StoreEngine::Postgres => open(config),
    }
}

impl MailboxStore {
    /// Open the embedded store (SQLite + blob files) in `data_dir` and start the actor on the
    /// current arbiter. Must be called inside a running actix System. Blocks while the
    /// database opens and migrates (startup only). Same as [`crate::start`] with a
    /// configuration whose data directory is `data_dir`.
    pub fn start_embedded(
        data_dir: &std::path::Path,
        bus: Bus,
    ) -> Result<Addr<MailboxStore>, StoreError> {
        let engine = embedded(data_dir)?;
        Ok(Self::start_with(engine, bus))
    }
}

/// The embedded engine (SQLite and body files) in `data_dir`.
pub(crate) fn embedded(data_dir: &Path) -> Result<Arc<dyn Engine>, StoreError> {
    Ok(Arc::new(SqliteBackend::open(data_dir)?))
}
