//! The directory in PostgreSQL: domains, accounts, aliases, DKIM keys of new domains, API
//! tokens, failed logins. The rules (names, keys, resolution, lockouts) are the engine-neutral
//! ones of [`crate::common::directory`]; this module is their SQL.
//!
//! Directory writes take [`DIRECTORY_LOCK`] for their transaction: they are rare (admins),
//! and one at a time across all nodes their checks (the address is free, an admin is left)
//! hold until they commit, as on the embedded engine's single writer.

use tokio_postgres::GenericClient;
use tokio_postgres::Row;

use super::pg;
use crate::common::directory::{
    self, Lookup, NewAlias, NewKeys, domain_in_use, domain_name, free_selector, last_admin,
    new_alias, no_account, parse_address, parse_alias_source, quota_value, role_addresses,
    role_named,
};
use crate::error::StoreError;
use crate::types::{Account, AccountChange, Alias, DEFAULT_MAILBOXES, Domain, Role};

/// Taken (transaction-scoped) by every directory write: "mailroom" + "dir".
const DIRECTORY_LOCK: i64 = 0x6d72_6469_7265_6374;

const DOMAIN_GET: &str = "SELECT id, name FROM domains WHERE name = $1";
const DOMAIN_INSERT: &str =
    "INSERT INTO domains (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id";
const DOMAIN_LIST: &str = "SELECT id, name FROM domains ORDER BY name";
const DOMAIN_ACCOUNTS: &str = "SELECT count(*) FROM accounts WHERE domain_id = $1";
const DOMAIN_DELETE: &str = "DELETE FROM domains WHERE id = $1";
const DOMAIN_EXISTS: &str = "SELECT 1 FROM domains WHERE name = $1";
const FIRST_DOMAIN: &str = "SELECT name FROM domains ORDER BY id LIMIT 1";

/// Columns for [`account_from_row`].
const ACCOUNT_COLUMNS: &str = "id, address, role, quota_bytes, used_bytes, disabled";
const ACCOUNT_ID_BY_KEY: &str = "SELECT id FROM accounts WHERE address_key = $1";
const ACCOUNT_INSERT: &str = "INSERT INTO accounts \
     (domain_id, address, address_key, password_hash, role, quota_bytes) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (address_key) DO NOTHING RETURNING id";
const ACCOUNT_SET_PASSWORD: &str = "UPDATE accounts SET password_hash = $2 WHERE address_key = $1";
const ACCOUNT_SET_QUOTA: &str = "UPDATE accounts SET quota_bytes = $2 WHERE address_key = $1";
const ACCOUNT_SET_ROLE: &str = "UPDATE accounts SET role = $2 WHERE address_key = $1";
const ACCOUNT_SET_DISABLED: &str = "UPDATE accounts SET disabled = $2 WHERE address_key = $1";
const ACCOUNT_DELETE: &str = "DELETE FROM accounts WHERE id = $1";
const ACCOUNT_WITH_HASH: &str = "SELECT id, address, role, quota_bytes, used_bytes, \
     disabled, password_hash FROM accounts WHERE address_key = $1";
const ACCOUNT_QUOTA: &str = "SELECT quota_bytes, used_bytes FROM accounts WHERE id = $1";
const FIRST_ADMIN: &str =
    "SELECT address FROM accounts WHERE role = 'admin' AND NOT disabled ORDER BY id LIMIT 1";
const ENABLED_ADMINS: &str = "SELECT count(*) FROM accounts WHERE role = 'admin' AND NOT disabled";
const MAILBOX_INSERT: &str = "INSERT INTO mailboxes \
     (account_id, name, special_use, uidvalidity, subscribed) VALUES ($1, $2, $3, $4, TRUE)";
/// The account's row, then its mailboxes, locked (in the order a delivery locks them, so the
/// two cannot deadlock): a delivery allocates its UID on the mailbox's row, so none can add
/// a message the removal would miss.
const ACCOUNT_LOCK: &str = "SELECT id FROM accounts WHERE id = $1 FOR UPDATE";
const ACCOUNT_MAILBOXES_LOCK: &str =
    "SELECT id FROM mailboxes WHERE account_id = $1 ORDER BY id FOR UPDATE";
/// Delete the account's messages and drop the references they held; the hashes touched.
const ACCOUNT_DELETE_MESSAGES: &str = "WITH gone AS ( \
       DELETE FROM messages m USING mailboxes b \
       WHERE b.id = m.mailbox_id AND b.account_id = $1 RETURNING m.blob), \
     counted AS (SELECT blob, count(*) AS n FROM gone GROUP BY blob) \
     UPDATE blobs SET refcount = blobs.refcount - counted.n FROM counted \
     WHERE blobs.sha256 = counted.blob RETURNING blobs.sha256";
const BLOBS_DELETE_UNUSED: &str = "DELETE FROM blobs WHERE sha256 = ANY($1) AND refcount <= 0";

const ALIAS_EXISTS: &str = "SELECT 1 FROM aliases WHERE source_key = $1 LIMIT 1";
const ALIAS_INSERT: &str = "INSERT INTO aliases \
     (domain_id, source, source_key, target, target_key) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (source_key, target_key) DO NOTHING";
const ALIAS_TARGETS: &str = "SELECT target FROM aliases WHERE source_key = $1 ORDER BY target_key";
const ALIAS_LIST: &str = "SELECT source, target FROM aliases ORDER BY source_key, target_key";
const ALIAS_DELETE: &str = "DELETE FROM aliases WHERE source_key = $1";

const KEYS_OF_DOMAIN: &str = "SELECT d.name, k.selector, k.algorithm, k.private_key, k.created \
     FROM dkim_keys k JOIN domains d ON d.id = k.domain_id \
     WHERE d.name = $1 AND k.active ORDER BY k.algorithm DESC, k.created DESC, k.id DESC";
const HAS_ACTIVE: &str =
    "SELECT 1 FROM dkim_keys WHERE domain_id = $1 AND algorithm = $2 AND active";
const SELECTORS: &str = "SELECT selector FROM dkim_keys WHERE domain_id = $1";
const KEY_INSERT: &str = "INSERT INTO dkim_keys \
     (domain_id, selector, algorithm, private_key, created, active) \
     VALUES ($1, $2, $3, $4, $5, TRUE)";

/// Serialise this transaction's directory write with every other one, on every node.
pub(crate) async fn lock(tx: &impl GenericClient) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DIRECTORY_LOCK])
        .await
        .map_err(pg)?;
    Ok(())
}

/// An [`Account`] from [`ACCOUNT_COLUMNS`] starting at column `at`.
pub(crate) fn account_from_row(r: &Row, at: usize) -> Account {
    Account {
        id: r.get(at),
        address: r.get(at + 1),
        role: role_named(r.get(at + 2)),
        quota_bytes: r.get::<_, i64>(at + 3).max(0) as u64,
        used_bytes: r.get::<_, i64>(at + 4).max(0) as u64,
        disabled: r.get(at + 5),
    }
}

fn domain_from_row(r: &Row) -> Domain {
    Domain {
        id: r.get(0),
        name: r.get(1),
    }
}

async fn find_domain(c: &impl GenericClient, name: &str) -> Result<Option<Domain>, StoreError> {
    Ok(c.query_opt(DOMAIN_GET, &[&name])
        .await
        .map_err(pg)?
        .map(|r| domain_from_row(&r)))
}

/// Every hosted domain, by name.
pub(crate) async fn domain_list(c: &impl GenericClient) -> Result<Vec<Domain>, StoreError> {
    Ok(c.query(DOMAIN_LIST, &[])
        .await
        .map_err(pg)?
        .iter()
        .map(domain_from_row)
        .collect())
}

/// Host `name`, with DKIM keys `keys` and its role addresses (when there is an admin).
pub(crate) async fn domain_add(
    tx: &impl GenericClient,
    name: &str,
    keys: &NewKeys,
) -> Result<Domain, StoreError> {
    let name = domain_name(name)?;
    let Some(row) = tx.query_opt(DOMAIN_INSERT, &[&name]).await.map_err(pg)? else {
        return Err(StoreError::Exists(format!("domain {name}")));
    };
    let id: i64 = row.get(0);
    insert_missing_keys(tx, id, keys).await?;
    add_role_aliases(tx, id, &name).await?;
    Ok(Domain { id, name })
}

/// Insert the keys of `new` that `domain_id` has no active key of yet.
async fn insert_missing_keys(
    tx: &impl GenericClient,
    domain_id: i64,
    new: &NewKeys,
) -> Result<(), StoreError> {
    for (algorithm, key) in &new.keys {
        let has = tx
            .query_opt(HAS_ACTIVE, &[&domain_id, &algorithm.as_str()])
            .await
            .map_err(pg)?;
        if has.is_some() {
            continue;
        }
        let taken: Vec<String> = tx
            .query(SELECTORS, &[&domain_id])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let selector = free_selector(*algorithm, new.created, |s| {
            Ok(taken.iter().any(|t| t == s))
        })?;
        tx.execute(
            KEY_INSERT,
            &[
                &domain_id,
                &selector,
                &algorithm.as_str(),
                &key.expose_pkcs8_der(),
                &new.created,
            ],
        )
        .await
        .map_err(pg)?;
    }
    Ok(())
}

/// The active DKIM keys of `name`, RSA first; `NotFound` if it is not hosted.
pub(crate) async fn domain_dkim(
    c: &impl GenericClient,
    name: &str,
) -> Result<Vec<crate::dkim::DkimKey>, StoreError> {
    let name = domain_name(name)?;
    if find_domain(c, &name).await?.is_none() {
        return Err(StoreError::NotFound(format!("domain {name}")));
    }
    let rows = c
        .query(KEYS_OF_DOMAIN, &[&directory::dkim_domain(&name)])
        .await
        .map_err(pg)?;
    directory::newest_keys(
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))),
    )
}

/// Stop hosting `name`; refused while it has accounts.
pub(crate) async fn domain_remove(tx: &impl GenericClient, name: &str) -> Result<(), StoreError> {
    let name = domain_name(name)?;
    let domain = find_domain(tx, &name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?;
    let accounts: i64 = tx
        .query_one(DOMAIN_ACCOUNTS, &[&domain.id])
        .await
        .map_err(pg)?
        .get(0);
    if accounts > 0 {
        return Err(domain_in_use(&name, accounts));
    }
    tx.execute(DOMAIN_DELETE, &[&domain.id]).await.map_err(pg)?;
    Ok(())
}

/// A domain's role addresses, as aliases to the first enabled admin account, unless they
/// exist (as an account or an alias); none when there is no admin yet.
async fn add_role_aliases(
    tx: &impl GenericClient,
    domain_id: i64,
    domain: &str,
) -> Result<(), StoreError> {
    let Some(admin) = tx.query_opt(FIRST_ADMIN, &[]).await.map_err(pg)? else {
        return Ok(());
    };
    let admin: String = admin.get(0);
    let admin_key = directory::address_key(&admin);
    for (source, key) in role_addresses(domain) {
        if !address_taken(tx, &key).await? {
            tx.execute(
                ALIAS_INSERT,
                &[&domain_id, &source, &key, &admin, &admin_key],
            )
            .await
            .map_err(pg)?;
        }
    }
    Ok(())
}

/// Whether an alias or an account has the address key `key`.
async fn address_taken(c: &impl GenericClient, key: &str) -> Result<bool, StoreError> {
    Ok(c.query_opt(ALIAS_EXISTS, &[&key])
        .await
        .map_err(pg)?
        .is_some()
        || c.query_opt(ACCOUNT_ID_BY_KEY, &[&key])
            .await
            .map_err(pg)?
            .is_some())
}

/// Held (transaction-scoped) while UIDVALIDITY is raised ("mruidval"; the mailbox tree's
/// CREATE takes the same).
const UIDVALIDITY_LOCK: i64 = 0x6d72_7569_6476_616c;

/// The next UIDVALIDITY: unique across the database and every node (RFC 9051 §2.3.1.1), and
/// at least the current time, as on the embedded engine
/// ([`crate::common::messages::next_uidvalidity`]), so a database rebuilt from scratch does
/// not repeat values clients have cached. The raise is made under [`UIDVALIDITY_LOCK`], so
/// two nodes never raise the sequence to the same value.
pub(crate) async fn next_uidvalidity(tx: &impl GenericClient) -> Result<i64, StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&UIDVALIDITY_LOCK])
        .await
        .map_err(pg)?;
    let next: i64 = tx
        .query_one("SELECT nextval('uidvalidity_seq')", &[])
        .await
        .map_err(pg)?
        .get(0);
    let value = i64::from(crate::common::messages::next_uidvalidity(
        next - 1,
        super::unix_now(),
    )?);
    if value != next {
        tx.execute("SELECT setval('uidvalidity_seq', $1)", &[&value])
            .await
            .map_err(pg)?;
    }
    Ok(value)
}

/// Add an account with its default mailboxes; the first admin gives every domain its role
/// addresses.
pub(crate) async fn user_add(
    tx: &impl GenericClient,
    address: &str,
    phc: &str,
    role: Role,
    quota: Option<u64>,
) -> Result<Account, StoreError> {
    let address = parse_address(address)?;
    let quota = quota_value(quota)?;
    let text = address.to_string();
    let key = directory::address_key(&text);
    let domain = find_domain(tx, address.domain())
        .await?
        .ok_or_else(|| StoreError::UnknownDomain(address.domain().to_string()))?;
    let first_admin =
        role == Role::Admin && tx.query_opt(FIRST_ADMIN, &[]).await.map_err(pg)?.is_none();
    let inserted = tx
        .query_opt(
            ACCOUNT_INSERT,
            &[&domain.id, &text, &key, &phc, &role.as_str(), &quota],
        )
        .await
        .map_err(pg)?;
    let Some(row) = inserted else {
        return Err(StoreError::Exists(format!("account {address}")));
    };
    let id: i64 = row.get(0);
    for (name, special_use) in DEFAULT_MAILBOXES {
        let uidvalidity = next_uidvalidity(tx).await?;
        tx.execute(MAILBOX_INSERT, &[&id, &name, &special_use, &uidvalidity])
            .await
            .map_err(pg)?;
    }
    if first_admin {
        // The domains made before there was an admin get their role addresses now.
        for domain in domain_list(tx).await? {
            add_role_aliases(tx, domain.id, &domain.name).await?;
        }
    }
    Ok(Account {
        id,
        address: text,
        role,
        quota_bytes: quota as u64,
        used_bytes: 0,
        disabled: false,
    })
}

/// Replace the account's password hash.
pub(crate) async fn user_passwd(
    tx: &impl GenericClient,
    address: &str,
    phc: &str,
) -> Result<(), StoreError> {
    let address = parse_address(address)?;
    let key = directory::address_key(&address.to_string());
    let changed = tx
        .execute(ACCOUNT_SET_PASSWORD, &[&key, &phc])
        .await
        .map_err(pg)?;
    if changed == 0 {
        return Err(no_account(&address));
    }
    Ok(())
}

/// The account at `address`; `NotFound` if there is none.
pub(crate) async fn user_get(c: &impl GenericClient, address: &str) -> Result<Account, StoreError> {
    let address = parse_address(address)?;
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE address_key = $1");
    c.query_opt(&sql, &[&directory::address_key(&address.to_string())])
        .await
        .map_err(pg)?
        .map(|r| account_from_row(&r, 0))
        .ok_or_else(|| no_account(&address))
}

/// Every account, by address.
pub(crate) async fn user_list(c: &impl GenericClient) -> Result<Vec<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY address_key");
    Ok(c.query(&sql, &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| account_from_row(r, 0))
        .collect())
}

/// Change quota, role and/or disabled; refused if it leaves no enabled admin.
pub(crate) async fn user_change(
    tx: &impl GenericClient,
    address: &str,
    change: &AccountChange,
) -> Result<Account, StoreError> {
    let address = parse_address(address)?;
    let key = directory::address_key(&address.to_string());
    let admins_before: i64 = tx.query_one(ENABLED_ADMINS, &[]).await.map_err(pg)?.get(0);
    let mut updates = Vec::new();
    if let Some(q) = change.quota_bytes {
        let q = quota_value(Some(q))?;
        updates.push(
            tx.execute(ACCOUNT_SET_QUOTA, &[&key, &q])
                .await
                .map_err(pg)?,
        );
    }
    if let Some(role) = change.role {
        updates.push(
            tx.execute(ACCOUNT_SET_ROLE, &[&key, &role.as_str()])
                .await
                .map_err(pg)?,
        );
    }
    if let Some(disabled) = change.disabled {
        updates.push(
            tx.execute(ACCOUNT_SET_DISABLED, &[&key, &disabled])
                .await
                .map_err(pg)?,
        );
    }
    if updates.contains(&0) {
        return Err(no_account(&address));
    }
    let admins: i64 = tx.query_one(ENABLED_ADMINS, &[]).await.map_err(pg)?.get(0);
    if admins == 0 && admins_before > 0 {
        return Err(last_admin(&address));
    }
    user_get(tx, &address.to_string()).await
}

/// Delete an account with its mailboxes and messages; bodies no other message uses go too.
pub(crate) async fn user_remove(
    tx: &impl GenericClient,
    address: &str,
) -> Result<Account, StoreError> {
    let account = user_get(tx, address).await?;
    tx.query(ACCOUNT_LOCK, &[&account.id]).await.map_err(pg)?;
    tx.query(ACCOUNT_MAILBOXES_LOCK, &[&account.id])
        .await
        .map_err(pg)?;
    let touched: Vec<String> = tx
        .query(ACCOUNT_DELETE_MESSAGES, &[&account.id])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.execute(BLOBS_DELETE_UNUSED, &[&touched])
        .await
        .map_err(pg)?;
    // Mailboxes, expunged rows, tokens, Bayes data cascade.
    tx.execute(ACCOUNT_DELETE, &[&account.id])
        .await
        .map_err(pg)?;
    Ok(account)
}

/// Add an alias (refused where an alias or account has the source).
pub(crate) async fn alias_add(
    tx: &impl GenericClient,
    source: &str,
    targets: &[String],
) -> Result<Alias, StoreError> {
    let NewAlias {
        source,
        source_key,
        domain,
        targets,
    } = new_alias(source, targets)?;
    let domain_id = find_domain(tx, &domain)
        .await?
        .ok_or_else(|| StoreError::UnknownDomain(domain.clone()))?
        .id;
    if tx
        .query_opt(ALIAS_EXISTS, &[&source_key])
        .await
        .map_err(pg)?
        .is_some()
    {
        return Err(StoreError::Exists(format!("alias {source}")));
    }
    if tx
        .query_opt(ACCOUNT_ID_BY_KEY, &[&source_key])
        .await
        .map_err(pg)?
        .is_some()
    {
        return Err(StoreError::Exists(format!("account {source}")));
    }
    for (key, target) in &targets {
        tx.execute(
            ALIAS_INSERT,
            &[&domain_id, &source, &source_key, target, key],
        )
        .await
        .map_err(pg)?;
    }
    Ok(Alias {
        source,
        targets: targets.into_values().collect(),
    })
}

/// Every alias, by source.
pub(crate) async fn alias_list(c: &impl GenericClient) -> Result<Vec<Alias>, StoreError> {
    let mut out: Vec<Alias> = Vec::new();
    for row in c.query(ALIAS_LIST, &[]).await.map_err(pg)? {
        let (source, target): (String, String) = (row.get(0), row.get(1));
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

/// Remove the alias `source` with all its targets.
pub(crate) async fn alias_remove(tx: &impl GenericClient, source: &str) -> Result<(), StoreError> {
    let (source, _) = parse_alias_source(source)?;
    let removed = tx
        .execute(ALIAS_DELETE, &[&directory::address_key(&source)])
        .await
        .map_err(pg)?;
    if removed == 0 {
        return Err(StoreError::NotFound(format!("alias {source}")));
    }
    Ok(())
}

/// The account with address key `key` and its password hash.
pub(crate) async fn account_with_hash(
    c: &impl GenericClient,
    key: &str,
) -> Result<Option<(Account, String)>, StoreError> {
    Ok(c.query_opt(ACCOUNT_WITH_HASH, &[&key])
        .await
        .map_err(pg)?
        .map(|r| (account_from_row(&r, 0), r.get(6))))
}

/// The accounts among `ids` that cannot take `size` more octets.
pub(crate) async fn over_quota(
    c: &impl GenericClient,
    ids: &[i64],
    size: u64,
) -> Result<Vec<i64>, StoreError> {
    let mut over = Vec::new();
    for &id in ids {
        if let Some(r) = c.query_opt(ACCOUNT_QUOTA, &[&id]).await.map_err(pg)?
            && directory::over_quota(r.get(0), r.get(1), size)
        {
            over.push(id);
        }
    }
    Ok(over)
}

/// The directory as recipient resolution reads it, on one connection or transaction.
pub(crate) struct PgLookup<'a, C>(pub(crate) &'a C);

impl<C: GenericClient + Sync> Lookup for PgLookup<'_, C> {
    async fn account_id(&mut self, key: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .0
            .query_opt(ACCOUNT_ID_BY_KEY, &[&key])
            .await
            .map_err(pg)?
            .map(|r| r.get(0)))
    }

    async fn alias_targets(&mut self, key: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .0
            .query(ALIAS_TARGETS, &[&key])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn domain_exists(&mut self, domain: &str) -> Result<bool, StoreError> {
        Ok(self
            .0
            .query_opt(DOMAIN_EXISTS, &[&domain])
            .await
            .map_err(pg)?
            .is_some())
    }

    async fn first_domain(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .query_opt(FIRST_DOMAIN, &[])
            .await
            .map_err(pg)?
            .map(|r| r.get(0)))
    }
}
