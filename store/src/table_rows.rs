//! What a migration copies: every table of the store, in an order that keeps foreign keys
//! satisfied while rows arrive, with each column's kind. The engines read and write rows of
//! these tables as [`Value`]s, so neither needs to know the other's types.
//!
//! Not copied: the embedded engine's `counters` (its one value, the last UIDVALIDITY, becomes
//! PostgreSQL's `uidvalidity_seq`), its `headers` table (folded into `blobs.headers`), and
//! the mailbox counters `n_messages`/`n_unseen`/`n_deleted`/`total_size`, which PostgreSQL's
//! trigger recomputes as the messages arrive (and the verification compares).

/// What a column holds; the target engine picks its own type for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A 64-bit integer.
    Int,
    /// A 32-bit integer (message flag bits).
    Int32,
    /// A yes/no switch (0/1 in the embedded engine).
    Bool,
    /// A floating-point number.
    Real,
    Text,
    Bytes,
}

#[derive(Debug)]
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

/// How the source finds a table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// As they are in the table of the same name.
    Plain,
    /// Message bodies: with their octets and header block, wherever the engine keeps them.
    Bodies,
}

#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    pub(crate) columns: &'static [Column],
    /// The key the source reads rows in, so a run is repeatable.
    pub(crate) order_by: &'static str,
    pub(crate) rows: Rows,
}

impl Table {
    /// Whether the table's first column is an `id` the target numbers by itself (and whose
    /// numbering must go on past the copied ids).
    pub(crate) fn has_identity(&self) -> bool {
        self.columns.first().is_some_and(|c| c.name == "id")
    }
}

/// One cell of a copied row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    /// Octets this cell holds, for sizing batches.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Value::Text(s) => s.len(),
            Value::Bytes(b) => b.len(),
            _ => 8,
        }
    }
}

/// One row, its cells in the order of [`Table::columns`].
pub(crate) type Row = Vec<Value>;

macro_rules! columns {
    ($($name:ident : $kind:ident),* $(,)?) => {
        &[$(Column { name: stringify!($name), kind: Kind::$kind }),*]
    };
}

const fn plain(name: &'static str, columns: &'static [Column], order_by: &'static str) -> Table {
    Table {
        name,
        columns,
        order_by,
        rows: Rows::Plain,
    }
}

/// Every table, parents before children.
pub(crate) const TABLES: &[Table] = &[
    plain("domains", columns!(id: Int, name: Text), "id"),
    plain(
        "accounts",
        columns!(
            id: Int, domain_id: Int, address: Text, address_key: Text, password_hash: Text,
            role: Text, quota_bytes: Int, used_bytes: Int, disabled: Bool,
        ),
        "id",
    ),
    plain(
        "aliases",
        columns!(
            id: Int, domain_id: Int, source: Text, source_key: Text, target: Text,
            target_key: Text,
        ),
        "id",
    ),
    plain(
        "dkim_keys",
        columns!(
            id: Int, domain_id: Int, selector: Text, algorithm: Text, private_key: Bytes,
            created: Int, active: Bool,
        ),
        "id",
    ),
    plain(
        "api_tokens",
        columns!(
            id: Int, account_id: Int, name: Text, secret_sha: Text, created: Int,
            last_used: Int,
        ),
        "id",
    ),
    plain(
        "mailboxes",
        columns!(
            id: Int, account_id: Int, name: Text, special_use: Text, uidvalidity: Int,
            uidnext: Int, highestmodseq: Int, subscribed: Bool, recent_uid: Int,
        ),
        "id",
    ),
    plain(
        "lost_subscriptions",
        columns!(account_id: Int, name: Text),
        "account_id, name",
    ),
    Table {
        name: "blobs",
        columns: columns!(
            id: Int, sha256: Text, size: Int, refcount: Int, meta: Text, headers: Bytes,
            data: Bytes,
        ),
        order_by: "id",
        rows: Rows::Bodies,
    },
    plain(
        "messages",
        columns!(
            id: Int, mailbox_id: Int, uid: Int, blob: Text, flags: Int32, keywords: Text,
            modseq: Int, internal_date: Int, size: Int,
        ),
        "id",
    ),
    plain(
        "expunged",
        columns!(mailbox_id: Int, uid: Int, modseq: Int),
        "mailbox_id, uid",
    ),
    plain(
        "queue_messages",
        columns!(
            id: Int, account_id: Int, sender: Text, ret: Text, envid: Text, created: Int,
            size: Int, body: Bytes,
        ),
        "id",
    ),
    plain(
        "queue_recipients",
        columns!(
            id: Int, message_id: Int, address: Text, domain: Text, status: Text, attempts: Int,
            next_attempt: Int, last_error: Text, last_reply: Text, notify: Int, orcpt: Text,
            delay_notified: Bool,
        ),
        "id",
    ),
    plain(
        "greylist_triplets",
        columns!(
            net: Text, sender: Text, recipient: Text, first_seen: Int, last_seen: Int,
            passed_at: Int, count: Int,
        ),
        "net, sender, recipient",
    ),
    plain(
        "greylist_known",
        columns!(kind: Text, key: Text, last_seen: Int),
        "kind, key",
    ),
    plain(
        "events",
        columns!(id: Int, kind: Text, at: Int, body: Text),
        "id",
    ),
    plain(
        "webhook_cursors",
        columns!(target: Text, last_id: Int),
        "target",
    ),
    plain(
        "bayes_tokens",
        columns!(account_id: Int, token_hash: Int, spam: Int, ham: Int),
        "account_id, token_hash",
    ),
    plain(
        "bayes_totals",
        columns!(account_id: Int, spam: Int, ham: Int),
        "account_id",
    ),
    plain(
        "bayes_trained",
        columns!(account_id: Int, blob: Text, class: Text, tokens: Bytes, at: Int),
        "account_id, blob",
    ),
    plain(
        "spam_decisions",
        columns!(
            id: Int, account_id: Int, blob: Text, score: Real, action: Text, rules: Text,
            at: Int,
        ),
        "id",
    ),
    plain(
        "login_failures",
        columns!(scope: Text, key: Text, failures: Int, first_at: Int, last_at: Int),
        "scope, key",
    ),
];
