//! The admin API: domains, accounts, aliases and API tokens, synchronously, for the CLI and
//! the admin server.
//!
//! It runs against a data directory that a server may be serving at the same moment, from
//! another process. So it uses its own plain connection with a busy timeout and keeps every
//! write transaction short (`BEGIN IMMEDIATE`, a few statements, COMMIT); argon2 hashing is
//! done before the transaction starts. It never creates or deletes blob files: bodies that lose
//! their last reference here (user removal) leave files that the server's next start sweeps.

use std::collections::BTreeMap;
use std::path::Path;

use mailroom_shared::Secret;
use mailroom_shared::address::{Address, parse_domain};
use mailroom_shared::password::hash_password;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::blobs::{self, BlobStore, sha256_hex};
use super::{
    DB_FILE, address_key, api_tokens, dkim, logins, open_write_connection, ops, reads, schema,
};
use crate::dkim::DkimKey;
use crate::error::StoreError;
use crate::types::{
    Account, AccountChange, Alias, ApiToken, DEFAULT_MAILBOXES, Domain, GreylistEntry, HourCount,
    Lockout, LockoutPolicy, LockoutScope, Resolution, Role, SpamDecisionRow, StoreSizes,
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

/// Synchronous management of a data directory. See the module docs for concurrency.
pub struct Admin {
    conn: Connection,
    blobs: BlobStore,
}

impl Admin {
    /// Open the store in `data_dir`, creating the directory and applying migrations.
    pub fn open(data_dir: &Path) -> Result<Admin, StoreError> {
        super::secure_data_dir(data_dir)?;
        let mut conn = open_write_connection(&data_dir.join(DB_FILE))?;
        schema::migrations::migrate(&mut conn)?;
        dkim::backfill(&mut conn)?;
        let blobs = BlobStore::at(data_dir);
        Ok(Admin { conn, blobs })
    }

    fn write(&self) -> Result<Transaction<'_>, StoreError> {
        Ok(Transaction::new_unchecked(
            &self.conn,
            TransactionBehavior::Immediate,
        )?)
    }

    /// An outbound queue request (`mailroom queue …`): list, or retry/delete/hold/release a
    /// queued message. A running server notices a change at its next poll (about a second).
    pub fn queue(
        &self,
        request: &mailroom_shared::queue::QueueRequest,
    ) -> Result<mailroom_shared::queue::QueueReply, StoreError> {
        let tx = self.write()?;
        let reply = super::queue::admin(&tx, request)?;
        tx.commit()?;
        Ok(reply)
    }

    /// Host mail for `name`, with its DKIM keys (RSA-2048 and Ed25519, see
    /// [`crate::dkim`]). `Invalid` if it is not a host name, `Exists` if already hosted.
    pub fn domain_add(&self, name: &str) -> Result<Domain, StoreError> {
        let name = parse_domain(name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        // RSA generation takes a while: before the transaction, like password hashing.
        let keys = dkim::generate_all()?;
        let tx = self.write()?;
        if find_domain(&tx, &name)?.is_some() {
            return Err(StoreError::Exists(format!("domain {name}")));
        }
        tx.execute(DOMAIN_INSERT, [&name])?;
        let id = tx.last_insert_rowid();
        dkim::insert_missing(&tx, id, &keys)?;
        add_role_aliases(&tx, id, &name)?;
        tx.commit()?;
        Ok(Domain { id, name })
    }

    /// The role addresses of `domain` ([`ROLE_ADDRESSES`]) that reach no account, as
    /// addresses; the panel warns about them.
    pub fn missing_role_addresses(&self, domain: &str) -> Result<Vec<String>, StoreError> {
        let domain = parse_domain(domain).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut missing = Vec::new();
        for local in ROLE_ADDRESSES {
            let address = format!("{local}@{domain}");
            match reads::resolve_recipient(&self.conn, &address)? {
                Resolution::Local(ids) if !ids.is_empty() => {}
                _ => missing.push(address),
            }
        }
        Ok(missing)
    }

    /// Every hosted domain, by name.
    pub fn domain_list(&self) -> Result<Vec<Domain>, StoreError> {
        list_domains(&self.conn)
    }

    /// The active DKIM keys of `name`, RSA first; `NotFound` if it is not hosted.
    pub fn domain_dkim(&self, name: &str) -> Result<Vec<DkimKey>, StoreError> {
        let name = parse_domain(name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if find_domain(&self.conn, &name)?.is_none() {
            return Err(StoreError::NotFound(format!("domain {name}")));
        }
        dkim::keys_of(&self.conn, &name)
    }

    /// Stop hosting `name`; refused while it has accounts. Its aliases go with it.
    pub fn domain_remove(&self, name: &str) -> Result<(), StoreError> {
        let name = parse_domain(name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let tx = self.write()?;
        let domain = find_domain(&tx, &name)?
            .ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?;
        let accounts: i64 = tx.query_row(DOMAIN_ACCOUNTS, [domain.id], |r| r.get(0))?;
        if accounts > 0 {
            return Err(StoreError::Invalid(format!(
                "domain {name} still has {accounts} accounts; remove them first"
            )));
        }
        tx.execute(DOMAIN_DELETE, [domain.id])?;
        tx.commit()?;
        Ok(())
    }

    /// Create an account with the default mailboxes (INBOX, Sent, Drafts, Junk, Trash,
    /// Archive). `quota` in octets; `None` or 0 = unlimited.
    pub fn user_add(
        &self,
        address: &str,
        password: &Secret,
        role: Role,
        quota: Option<u64>,
    ) -> Result<Account, StoreError> {
        let address = parse_address(address)?;
        let quota = i64::try_from(quota.unwrap_or(0))
            .map_err(|_| StoreError::Invalid("quota is too large".into()))?;
        let key = address_key(&address.to_string());
        // Cheap checks first, so a mistake does not cost an argon2 hash; repeated below
        // inside the transaction, where they count.
        self.check_new_account(&self.conn, &address, &key)?;
        let phc = hash_password(password).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let tx = self.write()?;
        let domain_id = self.check_new_account(&tx, &address, &key)?;
        let first_admin = role == Role::Admin
            && tx
                .query_row(FIRST_ADMIN, [], |r| r.get::<_, String>(0))
                .optional()?
                .is_none();
        tx.execute(
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
        let id = tx.last_insert_rowid();
        create_default_mailboxes(&tx, id)?;
        if first_admin {
            // The domains made before there was an admin get their role addresses now.
            for domain in list_domains(&tx)? {
                add_role_aliases(&tx, domain.id, &domain.name)?;
            }
        }
        tx.commit()?;
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
    fn check_new_account(
        &self,
        conn: &Connection,
        address: &Address,
        key: &str,
    ) -> Result<i64, StoreError> {
        let domain = find_domain(conn, address.domain())?
            .ok_or_else(|| StoreError::UnknownDomain(address.domain().to_string()))?;
        let exists: Option<i64> = conn
            .query_row(ACCOUNT_EXISTS, [key], |r| r.get(0))
            .optional()?;
        if exists.is_some() {
            return Err(StoreError::Exists(format!("account {address}")));
        }
        Ok(domain.id)
    }

    /// Set a new password (at least 8 characters).
    pub fn user_passwd(&self, address: &str, password: &Secret) -> Result<(), StoreError> {
        let address = parse_address(address)?;
        let phc = hash_password(password).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let key = address_key(&address.to_string());
        let changed = self.conn.execute(ACCOUNT_SET_PASSWORD, params![key, phc])?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("account {address}")));
        }
        Ok(())
    }

    /// The account at `address`; `NotFound` if there is none.
    pub fn user_get(&self, address: &str) -> Result<Account, StoreError> {
        let address = parse_address(address)?;
        let sql = format!(
            "SELECT {} FROM accounts WHERE address_key = ?1",
            reads::ACCOUNT_COLUMNS
        );
        self.conn
            .query_row(
                &sql,
                [address_key(&address.to_string())],
                reads::account_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("account {address}")))
    }

    /// Change an account's quota, role or switch; refused (`Invalid`) when it would leave no
    /// enabled admin, so the panel cannot lock everyone out.
    pub fn user_change(
        &self,
        address: &str,
        change: &AccountChange,
    ) -> Result<Account, StoreError> {
        let address = parse_address(address)?;
        let key = address_key(&address.to_string());
        let tx = self.write()?;
        let admins_before: i64 = tx.query_row(ENABLED_ADMINS, [], |r| r.get(0))?;
        if let Some(q) = change.quota_bytes {
            let q =
                i64::try_from(q).map_err(|_| StoreError::Invalid("quota is too large".into()))?;
            found(tx.execute(ACCOUNT_SET_QUOTA, params![key, q])?, &address)?;
        }
        if let Some(role) = change.role {
            found(
                tx.execute(ACCOUNT_SET_ROLE, params![key, role.as_str()])?,
                &address,
            )?;
        }
        if let Some(disabled) = change.disabled {
            found(
                tx.execute(ACCOUNT_SET_DISABLED, params![key, disabled])?,
                &address,
            )?;
        }
        let admins: i64 = tx.query_row(ENABLED_ADMINS, [], |r| r.get(0))?;
        if admins == 0 && admins_before > 0 {
            return Err(StoreError::Invalid(format!(
                "{address} is the last enabled admin; make another admin first"
            )));
        }
        let sql = format!(
            "SELECT {} FROM accounts WHERE address_key = ?1",
            reads::ACCOUNT_COLUMNS
        );
        let account = tx
            .query_row(&sql, [&key], reads::account_from_row)
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("account {address}")))?;
        tx.commit()?;
        Ok(account)
    }

    /// Make an API token acting as the admin `address`: the token, and its secret (shown
    /// once, never stored).
    pub fn token_create(
        &self,
        address: &str,
        name: &str,
    ) -> Result<(ApiToken, String), StoreError> {
        let account = self.user_get(address)?;
        let tx = self.write()?;
        let made = api_tokens::create(&tx, &account, name, super::unix_now())?;
        tx.commit()?;
        Ok(made)
    }

    /// Every API token, oldest first.
    pub fn token_list(&self) -> Result<Vec<ApiToken>, StoreError> {
        api_tokens::list(&self.conn)
    }

    /// Revoke API token `id`.
    pub fn token_delete(&self, id: i64) -> Result<(), StoreError> {
        api_tokens::delete(&self.conn, id)
    }

    /// The enabled admin account `secret` (an API token) acts as, if any.
    pub fn token_account(&self, secret: &str) -> Result<Option<Account>, StoreError> {
        api_tokens::account(&self.conn, secret, super::unix_now())
    }

    /// Messages per hour since `since` (unix seconds), by what happened to them: `received`
    /// (delivered locally), `rejected`, `greylisted`, `spam` (a copy filed as junk or
    /// refused by the scorer) and `sent` (submitted by a user). Hours are unix seconds / 3600.
    pub fn hourly_counts(&self, since: i64) -> Result<Vec<HourCount>, StoreError> {
        let mut stmt = self.conn.prepare(HOURLY_COUNTS)?;
        let rows = stmt.query_map([since], |r| {
            Ok(HourCount {
                what: r.get(0)?,
                hour: r.get(1)?,
                count: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rows in the outbound queue by status (`queued`, `held`), and the size of the
    /// database and its WAL in octets.
    pub fn sizes(&self) -> Result<StoreSizes, StoreError> {
        let mut stmt = self.conn.prepare(QUEUE_BY_STATUS)?;
        let mut queued = 0;
        let mut held = 0;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            match row? {
                (s, n) if s == "queued" => queued = n.max(0) as u64,
                (s, n) if s == "held" => held = n.max(0) as u64,
                _ => {}
            }
        }
        let (pages, page_size): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count), (SELECT page_size FROM pragma_page_size)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let blob_bytes: i64 =
            self.conn
                .query_row("SELECT coalesce(sum(size), 0) FROM blobs", [], |r| r.get(0))?;
        Ok(StoreSizes {
            queued,
            held,
            database_bytes: (pages.max(0) * page_size.max(0)) as u64,
            message_bytes: blob_bytes.max(0) as u64,
        })
    }

    /// The newest `limit` events of `kind` (`rejected`, `delivered`, …), newest first, as
    /// (id, unix seconds, the event's JSON).
    pub fn recent_events(
        &self,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<(i64, i64, String)>, StoreError> {
        let mut stmt = self.conn.prepare(RECENT_EVENTS)?;
        let rows = stmt.query_map(params![kind, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest `limit` spam decisions, newest first.
    pub fn spam_decisions(&self, limit: u32) -> Result<Vec<SpamDecisionRow>, StoreError> {
        let mut stmt = self.conn.prepare(SPAM_DECISIONS)?;
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

    /// Greylist triplets whose network, sender or recipient contains `q` (all if empty),
    /// most recently seen first, at most `limit`.
    pub fn greylist_entries(&self, q: &str, limit: u32) -> Result<Vec<GreylistEntry>, StoreError> {
        let pattern = format!("%{}%", q.replace(['%', '_'], ""));
        let mut stmt = self.conn.prepare(GREYLIST_ENTRIES)?;
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

    /// Every account, by address.
    pub fn user_list(&self) -> Result<Vec<Account>, StoreError> {
        let sql = format!(
            "SELECT {} FROM accounts ORDER BY address_key",
            reads::ACCOUNT_COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], reads::account_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Delete an account with its mailboxes and messages. Bodies no other message uses lose
    /// their row at once; their files are removed at the server's next start.
    pub fn user_remove(&self, address: &str) -> Result<(), StoreError> {
        let address = parse_address(address)?;
        let key = address_key(&address.to_string());
        let tx = self.write()?;
        let id: i64 = tx
            .query_row(ACCOUNT_EXISTS, [&key], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("account {address}")))?;
        tx.execute(ACCOUNT_RELEASE_BLOBS, [id])?;
        tx.execute(ACCOUNT_DELETE_MESSAGES, [id])?;
        tx.execute(BLOBS_DELETE_UNUSED, [])?;
        tx.execute(ACCOUNT_DELETE, [id])?; // mailboxes and expunged rows cascade
        tx.commit()?;
        Ok(())
    }

    /// Add an alias: `source` is `local@domain` or `@domain` (catch-all) in a hosted domain;
    /// `targets` are addresses anywhere. `Exists` if the source already is an alias or an
    /// account (change an alias by removing and re-adding it).
    pub fn alias_add(&self, source: &str, targets: &[String]) -> Result<Alias, StoreError> {
        let (source, domain) = parse_alias_source(source)?;
        let source_key = address_key(&source);
        if targets.is_empty() {
            return Err(StoreError::Invalid(
                "an alias needs at least one target".into(),
            ));
        }
        let mut checked = BTreeMap::new();
        for t in targets {
            let a =
                Address::parse(t).map_err(|e| StoreError::Invalid(format!("alias target: {e}")))?;
            let key = address_key(&a.to_string());
            if key == source_key {
                return Err(StoreError::Invalid(format!(
                    "alias {source} cannot target itself"
                )));
            }
            checked.insert(key, a.to_string());
        }
        let tx = self.write()?;
        let domain_id = find_domain(&tx, &domain)?
            .ok_or_else(|| StoreError::UnknownDomain(domain.clone()))?
            .id;
        if tx
            .query_row(ALIAS_EXISTS, [&source_key], |_| Ok(()))
            .optional()?
            .is_some()
        {
            return Err(StoreError::Exists(format!("alias {source}")));
        }
        if tx
            .query_row(ACCOUNT_EXISTS, [&source_key], |_| Ok(()))
            .optional()?
            .is_some()
        {
            return Err(StoreError::Exists(format!("account {source}")));
        }
        for (key, target) in &checked {
            tx.execute(
                ALIAS_INSERT,
                params![domain_id, source, source_key, target, key],
            )?;
        }
        tx.commit()?;
        Ok(Alias {
            source,
            targets: checked.into_values().collect(),
        })
    }

    /// Every alias, by source.
    pub fn alias_list(&self) -> Result<Vec<Alias>, StoreError> {
        let mut stmt = self.conn.prepare(ALIAS_LIST)?;
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

    /// Remove the alias with this source.
    pub fn alias_remove(&self, source: &str) -> Result<(), StoreError> {
        let (source, _) = parse_alias_source(source)?;
        let removed = self.conn.execute(ALIAS_DELETE, [address_key(&source)])?;
        if removed == 0 {
            return Err(StoreError::NotFound(format!("alias {source}")));
        }
        Ok(())
    }

    /// Runs of failed logins still remembered, oldest first, each with whether it is a
    /// lockout under `policy` now.
    pub fn lockouts(&self, policy: &LockoutPolicy) -> Result<Vec<(Lockout, bool)>, StoreError> {
        logins::list(&self.conn, super::unix_now(), policy)
    }

    /// Lift the lockout of (forget the failures of) `target`: an IP address, or an account's
    /// address. `NotFound` if there is nothing to lift.
    pub fn lockout_clear(&self, target: &str) -> Result<(), StoreError> {
        let (scope, key) = match target.parse::<std::net::IpAddr>() {
            Ok(ip) => (LockoutScope::Ip, ip.to_string()),
            Err(_) => (LockoutScope::Account, address_key(target)),
        };
        let tx = self.write()?;
        let cleared = logins::clear(&tx, scope, &key)?;
        tx.commit()?;
        if cleared {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("failed logins of {target}")))
        }
    }

    /// Who mail to `address` would reach (see the server's `ResolveRecipient`).
    pub fn resolve_recipient(&self, address: &str) -> Result<Resolution, StoreError> {
        reads::resolve_recipient(&self.conn, address)
    }

    /// Check the blobs: every row's body (in the row or its file) exists, has the recorded size and SHA-256, and the
    /// refcount equals the number of messages using it. Returns one line per problem (empty
    /// = healthy). Reads every body: slow on a big store.
    pub fn verify(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(BLOB_CHECK)?;
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
            if refcount != used {
                problems.push(format!(
                    "blob {hash}: refcount {refcount} but {used} messages"
                ));
            }
            let size = size.max(0) as u64;
            let body = match inline {
                Some(data) => blobs::check_inline(&hash, size, data),
                None => self.blobs.read(&hash, size),
            };
            match body {
                Ok(bytes) if sha256_hex(&bytes) != hash => {
                    problems.push(format!("blob {hash}: content does not match its name"));
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("blob {hash}: {e}")),
            }
        }
        Ok(problems)
    }
}

/// The addresses every domain should have: `postmaster` (RFC 5321 §4.5.1: required) and
/// `abuse` (RFC 2142 §2).
pub const ROLE_ADDRESSES: [&str; 2] = ["postmaster", "abuse"];

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

/// A domain's [`ROLE_ADDRESSES`], as aliases to the first enabled admin account, unless they
/// exist (as an account or an alias); none when there is no admin yet. Run when a domain is
/// added, and for every domain when the first admin account is made.
fn add_role_aliases(tx: &Transaction<'_>, domain_id: i64, domain: &str) -> Result<(), StoreError> {
    let admin: Option<String> = tx.query_row(FIRST_ADMIN, [], |r| r.get(0)).optional()?;
    let Some(admin) = admin else {
        return Ok(());
    };
    let admin_key = address_key(&admin);
    for local in ROLE_ADDRESSES {
        let source = format!("{local}@{domain}");
        let key = address_key(&source);
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
        return Err(StoreError::NotFound(format!("account {address}")));
    }
    Ok(())
}

fn parse_address(text: &str) -> Result<Address, StoreError> {
    Address::parse(text).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// `local@domain` or `@domain`, normalised; and the domain.
fn parse_alias_source(text: &str) -> Result<(String, String), StoreError> {
    if let Some(domain) = text.strip_prefix('@') {
        let domain = parse_domain(domain).map_err(|e| StoreError::Invalid(e.to_string()))?;
        return Ok((format!("@{domain}"), domain));
    }
    let a = parse_address(text)?;
    Ok((a.to_string(), a.domain().to_string()))
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

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
