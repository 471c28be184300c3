//! Versioned migrations, applied whenever the engine opens (by the server, or by the CLI).
//!
//! The version lives in `PRAGMA user_version`: migration `i` (0-based) takes the database to
//! version `i + 1`. Each migration runs in its own `BEGIN IMMEDIATE` transaction and re-reads
//! the version inside it, so two processes opening the same data directory at once apply it
//! exactly once. Migrations are append-only: never edit one that has shipped.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

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

/// Version 3: the header block of each body in a row of its own, so that header searches
/// and header fetches read a few hundred octets per message instead of the whole body.
/// Bodies stored before it have no row; readers fall back to the body for them.
const V3: &str = "
CREATE TABLE headers (
    sha256 TEXT PRIMARY KEY REFERENCES blobs(sha256) ON DELETE CASCADE,
    data   BLOB NOT NULL
) WITHOUT ROWID;
";

/// Version 4: each mailbox's message count, unseen and deleted counts and total size kept
/// in its row by triggers, so that STATUS, LIST and every check for changes read one row
/// instead of counting the mailbox's messages four times. The flag bits are
/// `types::FLAG_SEEN` (1) and `types::FLAG_DELETED` (8).
const V4: &str = "
ALTER TABLE mailboxes ADD COLUMN n_messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN n_unseen   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN n_deleted  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN total_size INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET
    n_messages = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id),
    n_unseen   = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id
                  AND m.flags & 1 = 0),
    n_deleted  = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id
                  AND m.flags & 8 != 0),
    total_size = (SELECT coalesce(sum(m.size), 0) FROM messages m
                  WHERE m.mailbox_id = mailboxes.id);
CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
    UPDATE mailboxes SET
        n_messages = n_messages + 1,
        n_unseen   = n_unseen + (NEW.flags & 1 = 0),
        n_deleted  = n_deleted + (NEW.flags & 8 != 0),
        total_size = total_size + NEW.size
    WHERE id = NEW.mailbox_id;
END;
CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
    UPDATE mailboxes SET
        n_messages = n_messages - 1,
        n_unseen   = n_unseen - (OLD.flags & 1 = 0),
        n_deleted  = n_deleted - (OLD.flags & 8 != 0),
        total_size = total_size - OLD.size
    WHERE id = OLD.mailbox_id;
END;
CREATE TRIGGER messages_count_update AFTER UPDATE OF flags, size, mailbox_id ON messages BEGIN
    UPDATE mailboxes SET
        n_messages = n_messages - 1,
        n_unseen   = n_unseen - (OLD.flags & 1 = 0),
        n_deleted  = n_deleted - (OLD.flags & 8 != 0),
        total_size = total_size - OLD.size
    WHERE id = OLD.mailbox_id;
    UPDATE mailboxes SET
        n_messages = n_messages + 1,
        n_unseen   = n_unseen + (NEW.flags & 1 = 0),
        n_deleted  = n_deleted + (NEW.flags & 8 != 0),
        total_size = total_size + NEW.size
    WHERE id = NEW.mailbox_id;
END;
";

/// Version 5: `blobs` and `headers` become rowid tables with a unique index on the hash.
/// As WITHOUT ROWID tables their rows (a whole small body, its parsed structure, its header
/// block) were the b-tree keys: every insert at a random hash split and rewrote pages full of
/// bodies, and the writer spent more time moving those pages than storing mail. Now the rows
/// are appended in rowid order and only the small hash index takes random inserts.
const V5: &str = "
CREATE TABLE blobs_v5 (
    id       INTEGER PRIMARY KEY,
    sha256   TEXT NOT NULL UNIQUE,
    size     INTEGER NOT NULL,
    refcount INTEGER NOT NULL CHECK (refcount >= 0),
    meta     TEXT NOT NULL,
    data     BLOB
);
INSERT INTO blobs_v5 (sha256, size, refcount, meta, data)
    SELECT sha256, size, refcount, meta, data FROM blobs;
CREATE TABLE headers_v5 (
    id     INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE REFERENCES blobs(sha256) ON DELETE CASCADE,
    data   BLOB NOT NULL
);
INSERT INTO headers_v5 (sha256, data) SELECT sha256, data FROM headers;
DROP TABLE headers;
DROP TABLE blobs;
ALTER TABLE blobs_v5 RENAME TO blobs;
ALTER TABLE headers_v5 RENAME TO headers;
";

/// Version 6: greylisting state (see `crate::greylist`). Triplets are keyed by client
/// network, sender and recipient; known senders by kind (`sender`: `net address`, `domain`:
/// the domain). The `last_seen` indexes serve the newest-first load and the expiry sweep.
const V6: &str = "
CREATE TABLE greylist_triplets (
    net        TEXT NOT NULL,
    sender     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    passed_at  INTEGER,
    count      INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (net, sender, recipient)
) WITHOUT ROWID;
CREATE INDEX greylist_triplets_last_seen ON greylist_triplets(last_seen);
CREATE TABLE greylist_known (
    kind      TEXT NOT NULL CHECK (kind IN ('sender', 'domain')),
    key       TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX greylist_known_last_seen ON greylist_known(last_seen);
";

/// Version 7: the event log and the webhook cursors.
///
/// `events` is append-only: a row is written in the same transaction as the change it
/// describes (a delivery, a MOVE) or on its own (a refusal, a failed login), and its id is
/// the de-duplication key webhook receivers see. AUTOINCREMENT so an id is never reused after
/// the newest rows were pruned. `body` is the JSON of `shared::events::EventData`.
/// `webhook_cursors` holds, per webhook URL, the last event id its receiver acknowledged.
const V7: &str = "
CREATE TABLE events (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    at   INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_at ON events(at);
CREATE TABLE webhook_cursors (
    target  TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Version 8: the spam scorer's tables. `bayes_tokens` holds per-account message counts per
/// token hash; `bayes_totals` the trained message counts; `bayes_trained` which body trained
/// which class for an account, with its token hashes (little-endian i64s) so that retraining
/// it the other way subtracts exactly what it added; `spam_decisions` the score and rules of
/// each delivered message per recipient, keyed by body so it follows the message when moved.
/// Bodies are not foreign keys here: training history and decisions outlive an expunge.
const V8: &str = "
CREATE TABLE bayes_tokens (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token_hash INTEGER NOT NULL,
    spam       INTEGER NOT NULL DEFAULT 0 CHECK (spam >= 0),
    ham        INTEGER NOT NULL DEFAULT 0 CHECK (ham >= 0),
    PRIMARY KEY (account_id, token_hash)
) WITHOUT ROWID;
CREATE TABLE bayes_totals (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    spam       INTEGER NOT NULL DEFAULT 0 CHECK (spam >= 0),
    ham        INTEGER NOT NULL DEFAULT 0 CHECK (ham >= 0)
);
CREATE TABLE bayes_trained (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    blob       TEXT NOT NULL,
    class      TEXT NOT NULL CHECK (class IN ('spam', 'ham')),
    tokens     BLOB NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (account_id, blob)
);
CREATE TABLE spam_decisions (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    blob       TEXT NOT NULL,
    score      REAL NOT NULL,
    action     TEXT NOT NULL,
    rules      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    UNIQUE (account_id, blob)
);
";

/// Version 9: the outbound queue. `queue_messages` holds each submitted message once, with
/// its envelope sender, RFC 3461 RET/ENVID and the submitting account (whose Inbox gets the
/// DSNs; NULL once that account is removed). `queue_recipients` has one row per remote
/// recipient: `status` queued/held (a delivered or failed row is removed with the results
/// that finish it, and the message with its last row), attempts, the next attempt (unix
/// seconds), the last error and the remote's last reply, NOTIFY as a bit mask (1 never,
/// 2 success, 4 failure, 8 delay), ORCPT, and whether a "delayed" DSN went out.
const V9: &str = "
CREATE TABLE queue_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    sender     TEXT NOT NULL,
    ret        TEXT CHECK (ret IN ('full', 'hdrs')),
    envid      TEXT,
    created    INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE TABLE queue_recipients (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id     INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
    address        TEXT NOT NULL,
    domain         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('queued', 'held', 'delivered', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_attempt   INTEGER NOT NULL,
    last_error     TEXT,
    last_reply     TEXT,
    notify         INTEGER NOT NULL,
    orcpt          TEXT,
    delay_notified INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_recipients_due ON queue_recipients(status, next_attempt);
CREATE INDEX queue_recipients_message ON queue_recipients(message_id);
";

/// Version 10: DKIM signing keys, one row per (domain, selector), the private key as PKCS#8
/// DER. `active` keys sign; an inactive one stays until its DNS record may be withdrawn.
/// Needs only V1 (`domains`).
const V10: &str = "
CREATE TABLE dkim_keys (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    selector    TEXT NOT NULL,
    algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    private_key BLOB NOT NULL,
    created     INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    UNIQUE (domain_id, selector)
);
";

/// Version 11: failed logins, counted per account (`scope = 'account'`, the address key) and
/// per client IP (`scope = 'ip'`), for the lockout of password guessing. A row is the run of
/// failures since its `first_at`; it is forgotten `lockout_secs` after `last_at`, cleared for
/// an account by its next successful login, and by an admin's `mailroom lockout clear`.
const V11: &str = "
CREATE TABLE login_failures (
    scope    TEXT NOT NULL CHECK (scope IN ('account', 'ip')),
    key      TEXT NOT NULL,
    failures INTEGER NOT NULL CHECK (failures > 0),
    first_at INTEGER NOT NULL,
    last_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
";

/// Version 12: the admin panel's account switch and API tokens. A `disabled` account keeps
/// receiving mail but may not log in anywhere. An API token is kept only as the SHA-256 of
/// its secret (the secret is random, so a slow hash adds nothing); it acts as its admin
/// account and dies with it.
const V12: &str = "
ALTER TABLE accounts ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    secret_sha TEXT NOT NULL UNIQUE,
    created    INTEGER NOT NULL,
    last_used  INTEGER
);
CREATE INDEX api_tokens_account ON api_tokens(account_id);
";

/// Version 13: `\Recent` (RFC 3501 §2.3.2) as a fact of the store, so that exactly one IMAP
/// session gets each message as recent: `recent_uid` is the highest UID a session has
/// claimed. Messages already there count as claimed: an upgrade does not make a whole
/// mailbox recent at once.
const V13: &str = "
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_uid = uidnext - 1;
";

/// Version 14: subscriptions that outlive their mailbox. A subscription to an existing
/// mailbox stays the `subscribed` flag on its row; when a subscribed mailbox is deleted its
/// name moves here, because RFC 3501 §6.3.6 / RFC 9051 §6.3.7 say the server must not drop a
/// name from the subscription list when the mailbox goes away (LIST (SUBSCRIBED) then shows
/// it `\NonExistent`, RFC 5258 §3.1). A mailbox created (or renamed) under such a name takes
/// the subscription back onto its row; UNSUBSCRIBE removes the name.
const V14: &str = "
CREATE TABLE lost_subscriptions (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
";

/// All migrations, oldest first.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14];

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
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    // A migration that rebuilds a table drops the old one while rows still refer to it: SQLite's
    // procedure for that is foreign keys off (a pragma that is a no-op inside a transaction),
    // then a check that nothing dangles before the commit.
    conn.pragma_update(None, "foreign_keys", false)?;
    let applied = apply(conn, current.max(0) as usize);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    applied
}

fn apply(conn: &mut Connection, from: usize) -> Result<(), StoreError> {
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        let version = index as i64 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated between our read and our lock.
        let now: i64 = tx.query_row(GET_VERSION, [], |r| r.get(0))?;
        if now >= version {
            continue;
        }
        tx.execute_batch(sql)?;
        let dangling: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = dangling {
            return Err(StoreError::Unavailable(format!(
                "schema migration {version} left rows in {table} referring to nothing"
            )));
        }
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

    /// The counters a trigger keeps, against counting the messages.
    fn counters(conn: &Connection) -> Vec<(i64, i64, i64, i64, i64)> {
        let kept = "SELECT id, n_messages, n_unseen, n_deleted, total_size FROM mailboxes \
                    ORDER BY id";
        let counted = "SELECT b.id, \
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id), \
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & 1 = 0), \
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & 8 != 0), \
            (SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = b.id) \
            FROM mailboxes b ORDER BY b.id";
        let read = |sql: &str| -> Vec<(i64, i64, i64, i64, i64)> {
            let mut stmt = conn.prepare(sql).expect("prepare");
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
        };
        let kept = read(kept);
        assert_eq!(
            kept,
            read(counted),
            "kept counters differ from the messages"
        );
        kept
    }

    #[test]
    fn mailbox_counters_are_backfilled_and_kept_by_triggers() {
        // The trigger SQL spells these bits out.
        assert_eq!(crate::types::FLAG_SEEN, 1);
        assert_eq!(crate::types::FLAG_DELETED, 8);
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "foreign_keys", "ON").expect("fk");
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).expect("old schema");
        }
        conn.pragma_update(None, "user_version", 3)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO domains (id, name) VALUES (1, 'example.test');
             INSERT INTO accounts (id, domain_id, address, address_key, password_hash, role)
                 VALUES (1, 1, 'a@example.test', 'a@example.test', 'x', 'user');
             INSERT INTO mailboxes (id, account_id, name, uidvalidity) VALUES
                 (1, 1, 'INBOX', 1), (2, 1, 'Archive', 2), (3, 1, 'Empty', 3);
             INSERT INTO blobs (sha256, size, refcount, meta) VALUES ('h', 10, 4, '{}');
             INSERT INTO messages (mailbox_id, uid, blob, flags, modseq, internal_date, size)
                 VALUES (1, 1, 'h', 0, 1, 0, 10), (1, 2, 'h', 1, 1, 0, 20),
                        (1, 3, 'h', 9, 1, 0, 30), (2, 1, 'h', 8, 1, 0, 40);",
        )
        .expect("old rows");
        migrate(&mut conn).expect("migrate");
        assert_eq!(
            counters(&conn),
            [(1, 3, 1, 1, 60), (2, 1, 1, 1, 40), (3, 0, 0, 0, 0)]
        );
        let steps = [
            "INSERT INTO messages (mailbox_id, uid, blob, flags, modseq, internal_date, size) \
             VALUES (3, 1, 'h', 0, 2, 0, 5)",
            "UPDATE messages SET flags = flags | 1 WHERE mailbox_id = 1",
            "UPDATE messages SET flags = flags & ~8 WHERE mailbox_id = 1 AND uid = 3",
            "UPDATE messages SET flags = 8 WHERE mailbox_id = 3",
            "UPDATE messages SET mailbox_id = 3, uid = 2 WHERE mailbox_id = 2",
            "DELETE FROM messages WHERE mailbox_id = 1 AND uid = 1",
            "DELETE FROM mailboxes WHERE id = 3",
        ];
        for step in steps {
            conn.execute(step, []).expect(step);
            counters(&conn);
        }
        assert_eq!(counters(&conn), [(1, 2, 0, 0, 50), (2, 0, 0, 0, 0)]);
    }

    #[test]
    fn messages_there_at_upgrade_are_not_recent() {
        let mut conn = Connection::open_in_memory().expect("open");
        for sql in &MIGRATIONS[..12] {
            conn.execute_batch(sql).expect("old schema");
        }
        conn.pragma_update(None, "user_version", 12)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO domains (id, name) VALUES (1, 'example.test');
             INSERT INTO accounts (id, domain_id, address, address_key, password_hash, role)
                 VALUES (1, 1, 'a@example.test', 'a@example.test', 'x', 'user');
             INSERT INTO mailboxes (id, account_id, name, uidvalidity, uidnext) VALUES
                 (1, 1, 'INBOX', 1, 8), (2, 1, 'Empty', 2, 1);",
        )
        .expect("old rows");
        migrate(&mut conn).expect("migrate");
        let marks: Vec<(i64, i64)> = conn
            .prepare("SELECT id, recent_uid FROM mailboxes ORDER BY id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(marks, [(1, 7), (2, 0)]);
    }

    #[test]
    fn blobs_and_headers_are_rebuilt_with_their_rows_and_references() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "foreign_keys", "ON").expect("fk");
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).expect("old schema");
        }
        conn.pragma_update(None, "user_version", 4)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO domains (id, name) VALUES (1, 'example.test');
             INSERT INTO accounts (id, domain_id, address, address_key, password_hash, role)
                 VALUES (1, 1, 'a@example.test', 'a@example.test', 'x', 'user');
             INSERT INTO mailboxes (id, account_id, name, uidvalidity) VALUES (1, 1, 'INBOX', 1);
             INSERT INTO blobs (sha256, size, refcount, meta, data) VALUES
                 ('h1', 10, 2, '{\"a\":1}', x'0102'), ('h2', 20, 1, '{}', NULL);
             INSERT INTO headers (sha256, data) VALUES ('h1', x'48'), ('h2', x'49');
             INSERT INTO messages (mailbox_id, uid, blob, flags, modseq, internal_date, size)
                 VALUES (1, 1, 'h1', 0, 1, 0, 10), (1, 2, 'h1', 0, 1, 0, 10),
                        (1, 3, 'h2', 0, 1, 0, 20);",
        )
        .expect("old rows");
        migrate(&mut conn).expect("migrate");
        let fk: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .expect("fk");
        assert!(fk, "foreign keys are enforced again after the rebuild");
        type BlobRow = (String, i64, i64, String, Option<Vec<u8>>);
        let blobs: Vec<BlobRow> = conn
            .prepare("SELECT sha256, size, refcount, meta, data FROM blobs ORDER BY sha256")
            .expect("prepare")
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            blobs,
            [
                ("h1".into(), 10, 2, "{\"a\":1}".into(), Some(vec![1, 2])),
                ("h2".into(), 20, 1, "{}".into(), None)
            ]
        );
        // A rowid table now, and the hash stays unique.
        conn.query_row("SELECT rowid FROM blobs LIMIT 1", [], |_| Ok(()))
            .expect("blobs has a rowid");
        assert!(
            conn.execute(
                "INSERT INTO blobs (sha256, size, refcount, meta) VALUES ('h1', 1, 1, '{}')",
                []
            )
            .is_err()
        );
        // Messages still refer to their blob; headers still go with it.
        assert!(
            conn.execute("DELETE FROM blobs WHERE sha256 = 'h1'", [])
                .is_err(),
            "a referenced blob cannot go"
        );
        conn.execute("DELETE FROM messages WHERE blob = 'h2'", [])
            .expect("delete message");
        conn.execute("DELETE FROM blobs WHERE sha256 = 'h2'", [])
            .expect("delete blob");
        let headers: Vec<String> = conn
            .prepare("SELECT sha256 FROM headers")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(headers, ["h1"]);
        assert_eq!(counters(&conn), [(1, 2, 2, 0, 20)]);
    }
}
