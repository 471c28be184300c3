//! Versioned migrations, applied at open by both the server and the admin CLI.
//!
//! The version lives in `PRAGMA user_version`: migration `i` (0-based) takes the database to
//! version `i + 1`. Each migration runs in its own `BEGIN IMMEDIATE` transaction and re-reads
//! the version inside it, so two processes opening the same data directory at once apply it
//! exactly once. Migrations are append-only: never edit one that has shipped.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;

/// Version 1: domains, accounts, aliases, mailboxes, blobs, messages, expunged.
///
/// Addresses keep their spelling in `address`/`source`/`target` and are looked up through a
/// lowercase `*_key` column (Rust's Unicode lowercasing, which `COLLATE NOCASE` cannot do).
const V1: &str = "
CREATE TABLE domains (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    domain_id     INTEGER NOT NULL REFERENCES domains(id),
    address       TEXT NOT NULL,
    address_key   TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    quota_bytes   INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
    used_bytes    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX accounts_domain ON accounts(domain_id);

-- One row per (source, target); `source_key` is `local@domain` or `@domain` (catch-all).
CREATE TABLE aliases (
    id         INTEGER PRIMARY KEY,
    domain_id  INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    source     TEXT NOT NULL,
    source_key TEXT NOT NULL,
    target     TEXT NOT NULL,
    target_key TEXT NOT NULL,
    UNIQUE (source_key, target_key)
);
CREATE INDEX aliases_domain ON aliases(domain_id);

-- Monotonic counters that must never go back, e.g. UIDVALIDITY (RFC 9051 §2.3.1.1).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    special_use   TEXT,
    uidvalidity   INTEGER NOT NULL UNIQUE,
    uidnext       INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 1,
    subscribed    INTEGER NOT NULL DEFAULT 1,
    UNIQUE (account_id, name)
);

-- Message bodies, content-addressed: the file is blobs/<sha256[..2]>/<sha256[2..]>.
-- `meta` is the JSON of mime::MessageMeta, computed once at delivery.
CREATE TABLE blobs (
    sha256   TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    refcount INTEGER NOT NULL CHECK (refcount >= 0),
    meta     TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    blob          TEXT NOT NULL REFERENCES blobs(sha256),
    flags         INTEGER NOT NULL DEFAULT 0,
    keywords      TEXT NOT NULL DEFAULT '',
    modseq        INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages(blob);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);

-- RFC 7162 §3.2.5: expunged UIDs and the MODSEQ of their expunge, for QRESYNC VANISHED.
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
";

/// Version 2: small bodies live in their `blobs` row (`data`), so that they are written by
/// the group commit itself instead of costing a file and a directory fsync each. `data` is
/// NULL for a body kept as a file.
const V2: &str = "ALTER TABLE blobs ADD COLUMN data BLOB;";

/// All migrations, oldest first.
const MIGRATIONS: &[&str] = &[V1, V2];

const GET_VERSION: &str = "PRAGMA user_version";

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Bring the database up to [`latest_version`]; refuse one written by a newer mailroom.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let latest = latest_version();
    let current: i64 = conn.query_row(GET_VERSION, [], |r| r.get(0))?;
    if current > latest {
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this mailroom understands ({latest})"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated between our read and our lock.
        let now: i64 = tx.query_row(GET_VERSION, [], |r| r.get(0))?;
        if now >= version {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "Applied store schema migration.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("first");
        migrate(&mut conn).expect("second is a no-op");
        let v: i64 = conn
            .query_row(GET_VERSION, [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, latest_version());
        conn.pragma_update(None, "user_version", 99).expect("bump");
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::Unavailable(_))
        ));
    }
}
