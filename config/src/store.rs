//! `[store]` and `[cluster]`: which engine holds the mail, and what the nodes of one
//! deployment share.
//!
//! The embedded engine (SQLite and body files in `server.data_dir`) is the default and needs
//! nothing else. `engine = "postgres"` keeps everything in one PostgreSQL database, which
//! several mailroom nodes may share; `[cluster] redis` then carries the change notifications
//! between them, so an IDLE session on one node hears of mail delivered on another. Both
//! sections need a restart to change.

use serde::{Deserialize, Serialize};

/// Which engine keeps the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// SQLite and body files in `server.data_dir`; one node.
    #[default]
    Embedded,
    /// PostgreSQL at `store.url`; any number of nodes.
    Postgres,
}

/// `[store]`; needs a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    /// `embedded` (default) or `postgres`.
    pub engine: StoreEngine,
    /// For `postgres`: a connection string, `postgres://user:password@host:port/database`
    /// or the key=value form. Never logged (it may hold a password).
    pub url: Option<String>,
    /// For `postgres`: most connections this node holds open.
    pub pool_size: u32,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            engine: StoreEngine::Embedded,
            url: None,
            pool_size: 16,
        }
    }
}

/// `[cluster]`; needs a restart. Empty for one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// `redis://host:port/db`: carries mailbox changes and events between the nodes. Unset,
    /// each node hears only its own.
    pub redis: Option<String>,
    /// This node's name in leases and logs; defaults to `server.hostname` plus the process id.
    pub node_name: Option<String>,
}

impl Store {
    pub(crate) fn check(&self, err: &mut impl FnMut(&str, String)) {
        match (self.engine, &self.url) {
            (StoreEngine::Postgres, None) => err(
                "store.url",
                "must name the PostgreSQL database when store.engine = \"postgres\"".into(),
            ),
            (StoreEngine::Postgres, Some(url)) if url.trim().is_empty() => {
                err("store.url", "must not be empty".into())
            }
            _ => {}
        }
        if self.pool_size == 0 || self.pool_size > 1000 {
            err("store.pool_size", "must be between 1 and 1000".into());
        }
    }
}

impl Cluster {
    pub(crate) fn check(&self, store: &Store, err: &mut impl FnMut(&str, String)) {
        if let Some(url) = &self.redis {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                err(
                    "cluster.redis",
                    "must be a redis:// or rediss:// address".into(),
                );
            }
            if store.engine != StoreEngine::Postgres {
                err(
                    "cluster.redis",
                    "nodes share mail only through store.engine = \"postgres\"; the embedded \
                     engine serves one node"
                        .into(),
                );
            }
        }
    }
}
