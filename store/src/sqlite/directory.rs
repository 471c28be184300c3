//! The directory in SQLite: domains, accounts, aliases, API tokens and lockouts. The writes
//! ([`apply`]) run on the writer thread inside its group commit, like every other write; the
//! reads run on the read pool. Password hashing and DKIM key generation happen before a write
//! is submitted, never on the writer.

use mailroom_shared::address::Address;
use rusqlite::{Connection, OptionalExtension, params};

use super::blobs::{self, BlobStore, sha256_hex};
use super::writer::BatchEffects;
use super::{address_key, api_tokens, dkim, logins, ops, reads, unix_now};
use crate::common::directory::{
    NewAlias, NewKeys, blob_problems, contains_pattern, domain_in_use, domain_name, last_admin,
    lockout_target, new_alias, no_account, no_failures, parse_address, parse_alias_source,
    quota_value, role_addresses,
};
use crate::dkim::DkimKey;
use crate::error::StoreError;
use crate::types::{
    Account, AccountChange, Alias, ApiToken, DEFAULT_MAILBOXES, Domain, GreylistEntry, HourCount,
    Lockout, LockoutPolicy, Role, SpamDecisionRow, StoreSizes,
};

const DOMAIN_GET: &str = "SELECT id, name FROM domains WHERE name = ?1";
const DOMAIN_INSERT: &str = "INSERT INTO domains (name) VALUES (?1)";
const DOMAIN_LIST: &str = "SELECT id, name FROM domains ORDER BY name";
const DOMAIN_ACCOUNTS: &str = "SELECT count(*) FROM accounts WHERE domain_id = ?1";
const DOMAIN_DELETE: &str = "DELETE FROM domains WHERE id = ?1";
const ACCOUNT_EXISTS: &str = "SELECT id FROM accounts WHERE address_key = ?1";
const ACCOUNT_INSERT: &str = "INSERT INTO accounts \
     (domain_id, address, address_key, password_hash, role, quota_bytes) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const ACCOUNT_SET_PASSWORD: &str = "UPDATE accounts SET password_hash = ?2 WHERE address_key = ?1";
const ACCOUNT_DELETE: &str = "DELETE FROM accounts WHERE id = ?1";
const ACCOUNT_SET_QUOTA: &str = "UPDATE accounts SET quota_bytes = ?2 WHERE address_key = ?1";
const ACCOUNT_SET_ROLE: &str = "UPDATE accounts SET role = ?2 WHERE address_key = ?1";
const ACCOUNT_SET_DISABLED: &str = "UPDATE accounts SET disabled = ?2 WHERE address_key = ?1";
const HOURLY_COUNTS: &str = "\
     SELECT CASE kind WHEN 'delivered' THEN 'received' ELSE kind END, at / 3600, count(*) \
       FROM events WHERE at >= ?1 AND kind IN ('delivered', 'rejected', 'greylisted') \
       GROUP BY 1, 2 \
     UNION ALL SELECT 'spam', at / 3600, count(*) FROM spam_decisions \
       WHERE at >= ?1 AND action <> 'inbox' GROUP BY 2 \
     UNION ALL SELECT 'sent', created / 3600, count(*) FROM queue_messages \
       WHERE created >= ?1 GROUP BY 2";
const QUEUE_BY_STATUS: &str = "SELECT status, count(*) FROM queue_recipients \
     WHERE status IN ('queued', 'held') GROUP BY status";
const RECENT_EVENTS: &str =
    "SELECT id, at, body FROM events WHERE kind = ?1 ORDER BY id DESC LIMIT ?2";
const SPAM_DECISIONS: &str = "SELECT a.address, d.score, d.action, d.rules, d.at \
     FROM spam_decisions d JOIN accounts a ON a.id = d.account_id ORDER BY d.at DESC, d.id DESC LIMIT ?1";
const GREYLIST_ENTRIES: &str = "SELECT net, sender, recipient, first_seen, last_seen, passed_at, count \
     FROM greylist_triplets WHERE net LIKE ?1 OR sender LIKE ?1 OR recipient LIKE ?1 \
     ORDER BY last_seen DESC LIMIT ?2";
const FIRST_ADMIN: &str =
    "SELECT address FROM accounts WHERE role = 'admin' AND disabled = 0 ORDER BY id LIMIT 1";
const ENABLED_ADMINS: &str = "SELECT count(*) FROM accounts WHERE role = 'admin' AND disabled = 0";
const MAILBOX_INSERT: &str = "INSERT INTO mailboxes \
     (account_id, name, special_use, uidvalidity, subscribed) VALUES (?1, ?2, ?3, ?4, 1)";
/// Drop the references an account's messages hold, before deleting them.
const ACCOUNT_RELEASE_BLOBS: &str = "UPDATE blobs SET refcount = refcount - ( \
     SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id \
     WHERE b.account_id = ?1 AND m.blob = blobs.sha256) \
     WHERE sha256 IN (SELECT m.blob FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id \
     WHERE b.account_id = ?1)";
const ACCOUNT_DELETE_MESSAGES: &str =
    "DELETE FROM messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?1)";
const BLOBS_DELETE_UNUSED: &str = "DELETE FROM blobs WHERE refcount <= 0";
const ALIAS_EXISTS: &str = "SELECT 1 FROM aliases WHERE source_key = ?1 LIMIT 1";
const ALIAS_INSERT: &str = "INSERT INTO aliases \
     (domain_id, source, source_key, target, target_key) VALUES (?1, ?2, ?3, ?4, ?5)";
const ALIAS_LIST: &str = "SELECT source, target FROM aliases ORDER BY source_key, target_key";
const ALIAS_DELETE: &str = "DELETE FROM aliases WHERE source_key = ?1";
const BLOB_CHECK: &str = "SELECT b.sha256, b.size, b.refcount, \
     (SELECT count(*) FROM messages m WHERE m.blob = b.sha256), b.data FROM blobs b";

/// The account's message bodies, which may lose their last reference with it.
const ACCOUNT_BLOBS: &str = "SELECT DISTINCT m.blob FROM messages m \
     JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = ?1";

/// A directory write, as the writer runs it.
pub(crate) enum DirectoryOp {
    AddDomain {
        name: String,
        keys: NewKeys,
    },
    RemoveDomain {
        name: String,
    },
    AddAccount {
        address: String,
        password_hash: String,
        role: Role,
        quota: Option<u64>,
    },
    SetPassword {
        address: String,
        password_hash: String,
    },
    ChangeAccount {
        address: String,
        change: AccountChange,
    },
    RemoveAccount {
        address: String,
    },
    AddAlias {
        source: String,
        targets: Vec<String>,
    },
    RemoveAlias {
        source: String,
    },
    CreateToken {
        address: String,
        name: String,
    },
    DeleteToken {
        id: i64,
    },
    TokenAccount {
        secret: String,
    },
    ClearLockout {
        target: String,
    },
}

/// What a [`DirectoryOp`] gives back.
pub(crate) enum DirectoryDone {
    Domain(Domain),
    Account(Account),
    MaybeAccount(Option<Account>),
    Alias(Alias),
    Token(ApiToken, String),
    Nothing,
}

/// Run one directory write in the writer's transaction.
pub(crate) fn apply(
    c: &Connection,
    fx: &mut BatchEffects,
    op: &DirectoryOp,
) -> Result<DirectoryDone, StoreError> {
    Ok(match op {
        DirectoryOp::AddDomain { name, keys } => DirectoryDone::Domain(domain_add(c, name, keys)?),
        DirectoryOp::RemoveDomain { name } => {
            domain_remove(c, name)?;
            DirectoryDone::Nothing
        }
        DirectoryOp::AddAccount {
            address,
            password_hash,
            role,
            quota,
        } => DirectoryDone::Account(user_add(c, address, password_hash, *role, *quota)?),
        DirectoryOp::SetPassword {
            address,
            password_hash,
        } => {
            user_passwd(c, address, password_hash)?;
            DirectoryDone::Nothing
        }
        DirectoryOp::ChangeAccount { address, change } => {
            DirectoryDone::Account(user_change(c, address, change)?)
        }
        DirectoryOp::RemoveAccount { address } => {
            DirectoryDone::Account(user_remove(c, fx, address)?)
        }
        DirectoryOp::AddAlias { source, targets } => {
            DirectoryDone::Alias(alias_add(c, source, targets)?)
        }
        DirectoryOp::RemoveAlias { source } => {
            alias_remove(c, source)?;
            DirectoryDone::Nothing
        }
        DirectoryOp::CreateToken { address, name } => {
            let account = user_get(c, address)?;
            let (token, secret) = api_tokens::create(c, &account, name, unix_now())?;
            DirectoryDone::Token(token, secret)
        }
        DirectoryOp::DeleteToken { id } => {
            api_tokens::delete(c, *id)?;
            DirectoryDone::Nothing
        }
        DirectoryOp::TokenAccount { secret } => {
            DirectoryDone::MaybeAccount(api_tokens::account(c, secret, unix_now())?)
        }
        DirectoryOp::ClearLockout { target } => {
            lockout_clear(c, target)?;
            DirectoryDone::Nothing
        }
    })
}

fn domain_add(c: &Connection, name: &str, keys: &NewKeys) -> Result<Domain, StoreError> {
    let name = domain_name(name)?;
    if find_domain(c, &name)?.is_some() {
        return Err(StoreError::Exists(format!("domain {name}")));
    }
    c.execute(DOMAIN_INSERT, [&name])?;
    let id = c.last_insert_rowid();
    dkim::insert_missing(c, id, keys)?;
    add_role_aliases(c, id, &name)?;
    Ok(Domain { id, name })
}

/// The role addresses of `domain` that reach no account.
pub(crate) fn missing_role_addresses(
    c: &Connection,
    domain: &str,
) -> Result<Vec<String>, StoreError> {
    reads::missing_role_addresses(c, domain)
}

/// Every hosted domain, by name.
pub(crate) fn domain_list(c: &Connection) -> Result<Vec<Domain>, StoreError> {
    list_domains(c)
}

/// The active DKIM keys of `name`, RSA first; `NotFound` if it is not hosted.
pub(crate) fn domain_dkim(c: &Connection, name: &str) -> Result<Vec<DkimKey>, StoreError> {
    let name = domain_name(name)?;
    if find_domain(c, &name)?.is_none() {
        return Err(StoreError::NotFound(format!("domain {name}")));
    }
    dkim::keys_of(c, &name)
}

fn domain_remove(c: &Connection, name: &str) -> Result<(), StoreError> {
    let name = domain_name(name)?;
    let domain =
        find_domain(c, &name)?.ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?;
    let accounts: i64 = c.query_row(DOMAIN_ACCOUNTS, [domain.id], |r| r.get(0))?;
    if accounts > 0 {
        return Err(domain_in_use(&name, accounts));
    }
    c.execute(DOMAIN_DELETE, [domain.id])?;
    Ok(())
}

fn user_add(
    c: &Connection,
    address: &str,
    phc: &str,
    role: Role,
    quota: Option<u64>,
) -> Result<Account, StoreError> {
    let address = parse_address(address)?;
    let quota = quota_value(quota)?;
    let key = address_key(&address.to_string());
    let domain_id = check_new_account(c, &address, &key)?;
    let first_admin = role == Role::Admin
        && c.query_row(FIRST_ADMIN, [], |r| r.get::<_, String>(0))
            .optional()?
            .is_none();
    c.execute(
        ACCOUNT_INSERT,
        params![
            domain_id,
            address.to_string(),
            key,
            phc,
            role.as_str(),
            quota
        ],
    )?;
    let id = c.last_insert_rowid();
    create_default_mailboxes(c, id)?;
    if first_admin {
        // The domains made before there was an admin get their role addresses now.
        for domain in list_domains(c)? {
            add_role_aliases(c, domain.id, &domain.name)?;
        }
    }
    Ok(Account {
        id,
        address: address.to_string(),
        role,
        quota_bytes: quota as u64,
        used_bytes: 0,
        disabled: false,
    })
}

/// The domain id for a new account at `address`, if it may be created.
pub(crate) fn check_new_account(
    c: &Connection,
    address: &Address,
    key: &str,
) -> Result<i64, StoreError> {
    let domain = find_domain(c, address.domain())?
        .ok_or_else(|| StoreError::UnknownDomain(address.domain().to_string()))?;
    let exists: Option<i64> = c
        .query_row(ACCOUNT_EXISTS, [key], |r| r.get(0))
        .optional()?;
    if exists.is_some() {
        return Err(StoreError::Exists(format!("account {address}")));
    }
    Ok(domain.id)
}

fn user_passwd(c: &Connection, address: &str, phc: &str) -> Result<(), StoreError> {
    let address = parse_address(address)?;
    let key = address_key(&address.to_string());
    let changed = c.execute(ACCOUNT_SET_PASSWORD, params![key, phc])?;
    if changed == 0 {
        return Err(no_account(&address));
    }
    Ok(())
}

/// The account at `address`; `NotFound` if there is none.
pub(crate) fn user_get(c: &Connection, address: &str) -> Result<Account, StoreError> {
    let address = parse_address(address)?;
    let sql = format!(
        "SELECT {} FROM accounts WHERE address_key = ?1",
        reads::ACCOUNT_COLUMNS
    );
    c.query_row(
        &sql,
        [address_key(&address.to_string())],
        reads::account_from_row,
    )
    .optional()?
    .ok_or_else(|| no_account(&address))
}

fn user_change(
    c: &Connection,
    address: &str,
    change: &AccountChange,
) -> Result<Account, StoreError> {
    let address = parse_address(address)?;
    let key = address_key(&address.to_string());
    let admins_before: i64 = c.query_row(ENABLED_ADMINS, [], |r| r.get(0))?;
    if let Some(q) = change.quota_bytes {
        let q = quota_value(Some(q))?;
        found(c.execute(ACCOUNT_SET_QUOTA, params![key, q])?, &address)?;
    }
    if let Some(role) = change.role {
        found(
            c.execute(ACCOUNT_SET_ROLE, params![key, role.as_str()])?,
            &address,
        )?;
    }
    if let Some(disabled) = change.disabled {
        found(
            c.execute(ACCOUNT_SET_DISABLED, params![key, disabled])?,
            &address,
        )?;
    }
    let admins: i64 = c.query_row(ENABLED_ADMINS, [], |r| r.get(0))?;
    if admins == 0 && admins_before > 0 {
        return Err(last_admin(&address));
    }
    user_get(c, &address.to_string())
}

/// Delete an account with its mailboxes and messages; bodies no other message uses lose
/// their row, and their files go after the commit.
fn user_remove(
    c: &Connection,
    fx: &mut BatchEffects,
    address: &str,
) -> Result<Account, StoreError> {
    let account = user_get(c, address)?;
    let id = account.id;
    {
        let mut stmt = c.prepare(ACCOUNT_BLOBS)?;
        let hashes = stmt.query_map([id], |r| r.get::<_, String>(0))?;
        for hash in hashes {
            fx.maybe_orphaned.push(hash?);
        }
    }
    c.execute(ACCOUNT_RELEASE_BLOBS, [id])?;
    c.execute(ACCOUNT_DELETE_MESSAGES, [id])?;
    c.execute(BLOBS_DELETE_UNUSED, [])?;
    c.execute(ACCOUNT_DELETE, [id])?; // mailboxes and expunged rows cascade
    Ok(account)
}

/// Every account, by address.
pub(crate) fn user_list(c: &Connection) -> Result<Vec<Account>, StoreError> {
    let sql = format!(
        "SELECT {} FROM accounts ORDER BY address_key",
        reads::ACCOUNT_COLUMNS
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map([], reads::account_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The checked source and targets of a new alias.
fn alias_add(c: &Connection, source: &str, targets: &[String]) -> Result<Alias, StoreError> {
    let NewAlias {
        source,
        source_key,
        domain,
        targets: checked,
    } = new_alias(source, targets)?;
    let domain_id = find_domain(c, &domain)?
        .ok_or_else(|| StoreError::UnknownDomain(domain.clone()))?
        .id;
    if c.query_row(ALIAS_EXISTS, [&source_key], |_| Ok(()))
        .optional()?
        .is_some()
    {
        return Err(StoreError::Exists(format!("alias {source}")));
    }
    if c.query_row(ACCOUNT_EXISTS, [&source_key], |_| Ok(()))
        .optional()?
        .is_some()
    {
        return Err(StoreError::Exists(format!("account {source}")));
    }
    for (key, target) in &checked {
        c.execute(
            ALIAS_INSERT,
            params![domain_id, source, source_key, target, key],
        )?;
    }
    Ok(Alias {
        source,
        targets: checked.into_values().collect(),
    })
}

/// Every alias, by source.
pub(crate) fn alias_list(c: &Connection) -> Result<Vec<Alias>, StoreError> {
    let mut stmt = c.prepare(ALIAS_LIST)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out: Vec<Alias> = Vec::new();
    for row in rows {
        let (source, target) = row?;
        match out.last_mut() {
            Some(last) if last.source == source => last.targets.push(target),
            _ => out.push(Alias {
                source,
                targets: vec![target],
            }),
        }
    }
    Ok(out)
}

fn alias_remove(c: &Connection, source: &str) -> Result<(), StoreError> {
    let (source, _) = parse_alias_source(source)?;
    let removed = c.execute(ALIAS_DELETE, [address_key(&source)])?;
    if removed == 0 {
        return Err(StoreError::NotFound(format!("alias {source}")));
    }
    Ok(())
}

/// Every API token, oldest first.
pub(crate) fn token_list(c: &Connection) -> Result<Vec<ApiToken>, StoreError> {
    api_tokens::list(c)
}

/// Runs of failed logins still remembered, each with whether it locks now.
pub(crate) fn lockouts(
    c: &Connection,
    policy: &LockoutPolicy,
) -> Result<Vec<(Lockout, bool)>, StoreError> {
    logins::list(c, unix_now(), policy)
}

fn lockout_clear(c: &Connection, target: &str) -> Result<(), StoreError> {
    let (scope, key) = lockout_target(target);
    if logins::clear(c, scope, &key)? {
        Ok(())
    } else {
        Err(no_failures(target))
    }
}

/// Messages per hour since `since`, by what happened to them.
pub(crate) fn hourly_counts(c: &Connection, since: i64) -> Result<Vec<HourCount>, StoreError> {
    let mut stmt = c.prepare(HOURLY_COUNTS)?;
    let rows = stmt.query_map([since], |r| {
        Ok(HourCount {
            what: r.get(0)?,
            hour: r.get(1)?,
            count: r.get::<_, i64>(2)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The queue by status and the size of the data.
pub(crate) fn sizes(c: &Connection) -> Result<StoreSizes, StoreError> {
    let mut stmt = c.prepare(QUEUE_BY_STATUS)?;
    let mut queued = 0;
    let mut held = 0;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        match row? {
            (s, n) if s == "queued" => queued = n.max(0) as u64,
            (s, n) if s == "held" => held = n.max(0) as u64,
            _ => {}
        }
    }
    let (pages, page_size): (i64, i64) = c.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count), (SELECT page_size FROM pragma_page_size)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let blob_bytes: i64 =
        c.query_row("SELECT coalesce(sum(size), 0) FROM blobs", [], |r| r.get(0))?;
    Ok(StoreSizes {
        queued,
        held,
        database_bytes: (pages.max(0) * page_size.max(0)) as u64,
        message_bytes: blob_bytes.max(0) as u64,
    })
}

/// The newest `limit` events of `kind`, newest first.
pub(crate) fn recent_events(
    c: &Connection,
    kind: &str,
    limit: u32,
) -> Result<Vec<(i64, i64, String)>, StoreError> {
    let mut stmt = c.prepare(RECENT_EVENTS)?;
    let rows = stmt.query_map(params![kind, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest `limit` spam decisions, newest first.
pub(crate) fn spam_decisions(
    c: &Connection,
    limit: u32,
) -> Result<Vec<SpamDecisionRow>, StoreError> {
    let mut stmt = c.prepare(SPAM_DECISIONS)?;
    let rows = stmt.query_map([limit], |r| {
        Ok(SpamDecisionRow {
            account: r.get(0)?,
            score: r.get(1)?,
            action: r.get(2)?,
            rules_json: r.get(3)?,
            at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Greylist triplets whose network, sender or recipient contains `q`.
pub(crate) fn greylist_entries(
    c: &Connection,
    q: &str,
    limit: u32,
) -> Result<Vec<GreylistEntry>, StoreError> {
    let pattern = contains_pattern(q);
    let mut stmt = c.prepare(GREYLIST_ENTRIES)?;
    let rows = stmt.query_map(params![pattern, limit], |r| {
        Ok(GreylistEntry {
            net: r.get(0)?,
            sender: r.get(1)?,
            recipient: r.get(2)?,
            first_seen: r.get(3)?,
            last_seen: r.get(4)?,
            passed_at: r.get(5)?,
            count: r.get::<_, i64>(6)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Check every body: present, of the recorded size and SHA-256, referenced as counted.
pub(crate) fn verify(c: &Connection, blob_store: &BlobStore) -> Result<Vec<String>, StoreError> {
    let mut stmt = c.prepare(BLOB_CHECK)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<Vec<u8>>>(4)?,
        ))
    })?;
    let mut problems = Vec::new();
    for row in rows {
        let (hash, size, refcount, used, inline) = row?;
        let size = size.max(0) as u64;
        let body = match inline {
            Some(data) => blobs::check_inline(&hash, size, data),
            None => blob_store.read(&hash, size),
        };
        let content = body.map(|bytes| sha256_hex(&bytes));
        problems.extend(blob_problems(&hash, refcount, used, content));
    }
    Ok(problems)
}

fn list_domains(conn: &Connection) -> Result<Vec<Domain>, StoreError> {
    let mut stmt = conn.prepare(DOMAIN_LIST)?;
    let rows = stmt.query_map([], |r| {
        Ok(Domain {
            id: r.get(0)?,
            name: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A domain's role addresses ([`crate::common::directory::ROLE_ADDRESSES`]), as aliases to
/// the first enabled admin account, unless they exist (as an account or an alias); none when
/// there is no admin yet. Run when a domain is added, and for every domain when the first
/// admin account is made.
fn add_role_aliases(tx: &Connection, domain_id: i64, domain: &str) -> Result<(), StoreError> {
    let admin: Option<String> = tx.query_row(FIRST_ADMIN, [], |r| r.get(0)).optional()?;
    let Some(admin) = admin else {
        return Ok(());
    };
    let admin_key = address_key(&admin);
    for (source, key) in role_addresses(domain) {
        let exists = tx
            .query_row(ALIAS_EXISTS, [&key], |_| Ok(()))
            .optional()?
            .is_some()
            || tx
                .query_row(ACCOUNT_EXISTS, [&key], |_| Ok(()))
                .optional()?
                .is_some();
        if !exists {
            tx.execute(
                ALIAS_INSERT,
                params![domain_id, source, key, admin, admin_key],
            )?;
        }
    }
    Ok(())
}

/// `NotFound` for an update that changed no row.
fn found(changed: usize, address: &Address) -> Result<(), StoreError> {
    if changed == 0 {
        return Err(no_account(&address));
    }
    Ok(())
}

fn find_domain(conn: &Connection, name: &str) -> Result<Option<Domain>, StoreError> {
    Ok(conn
        .query_row(DOMAIN_GET, [name], |r| {
            Ok(Domain {
                id: r.get(0)?,
                name: r.get(1)?,
            })
        })
        .optional()?)
}

fn create_default_mailboxes(conn: &Connection, account_id: i64) -> Result<(), StoreError> {
    for (name, special_use) in DEFAULT_MAILBOXES {
        let uidvalidity = ops::next_uidvalidity(conn)?;
        conn.execute(
            MAILBOX_INSERT,
            params![account_id, name, special_use, uidvalidity],
        )?;
    }
    Ok(())
}
