//! Engine-neutral rules of the directory: address keys, the checks of names, accounts and
//! aliases, the role addresses every domain gets, DKIM keys for a new domain, recipient
//! resolution (over a [`Lookup`] each engine implements), the password check and the
//! judgement of failed-login runs. Both engines call these, so they agree on every answer.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::OnceLock;

use mailroom_shared::Secret;
use mailroom_shared::address::{Address, POSTMASTER, parse_domain};
use mailroom_shared::password::{hash_password, verify_password};

use crate::dkim::{DkimAlgorithm, DkimKey, DkimPrivateKey, generate, year_of};
use crate::error::StoreError;
use crate::types::{Account, Lockout, LockoutPolicy, LockoutScope, Resolution, Role};

/// RFC-free limit of our own: alias chains deeper than this are not followed.
pub(crate) const MAX_ALIAS_DEPTH: usize = 5;

/// The addresses every domain should have: `postmaster` (RFC 5321 §4.5.1: required) and
/// `abuse` (RFC 2142 §2).
pub(crate) const ROLE_ADDRESSES: [&str; 2] = ["postmaster", "abuse"];

/// The lookup key of an address: lowercase, with the domain as IDNA A-labels, so lookups
/// ignore case and a U-label domain finds its A-label (RFC 6531 §3.3).
pub(crate) fn address_key(address: &str) -> String {
    mailroom_shared::address::canonical(address)
}

/// The checked name of a domain to add.
pub(crate) fn domain_name(name: &str) -> Result<String, StoreError> {
    parse_domain(name).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// An account's address, checked.
pub(crate) fn parse_address(text: &str) -> Result<Address, StoreError> {
    Address::parse(text).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// A quota as stored: 0 for none.
pub(crate) fn quota_value(quota: Option<u64>) -> Result<i64, StoreError> {
    i64::try_from(quota.unwrap_or(0)).map_err(|_| StoreError::Invalid("quota is too large".into()))
}

/// `NotFound` for an account.
pub(crate) fn no_account(address: &impl std::fmt::Display) -> StoreError {
    StoreError::NotFound(format!("account {address}"))
}

/// Refusal to remove a domain that still has accounts.
pub(crate) fn domain_in_use(name: &str, accounts: i64) -> StoreError {
    StoreError::Invalid(format!(
        "domain {name} still has {accounts} accounts; remove them first"
    ))
}

/// Refusal of a change that leaves no enabled admin.
pub(crate) fn last_admin(address: &impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!(
        "{address} is the last enabled admin; make another admin first"
    ))
}

/// The role stored as `text` (the schemas allow only `user` and `admin`).
pub(crate) fn role_named(text: &str) -> Role {
    if text == "admin" {
        Role::Admin
    } else {
        Role::User
    }
}

/// A new alias, checked: its normalised source, the source's key, its domain, and its
/// targets by key (each once, sorted by key).
pub(crate) struct NewAlias {
    pub(crate) source: String,
    pub(crate) source_key: String,
    pub(crate) domain: String,
    pub(crate) targets: BTreeMap<String, String>,
}

/// Check the source (`local@domain` or the catch-all `@domain`) and targets of a new alias.
pub(crate) fn new_alias(source: &str, targets: &[String]) -> Result<NewAlias, StoreError> {
    let (source, domain) = parse_alias_source(source)?;
    let source_key = address_key(&source);
    if targets.is_empty() {
        return Err(StoreError::Invalid(
            "an alias needs at least one target".into(),
        ));
    }
    let mut checked = BTreeMap::new();
    for t in targets {
        let a = Address::parse(t).map_err(|e| StoreError::Invalid(format!("alias target: {e}")))?;
        let key = address_key(&a.to_string());
        if key == source_key {
            return Err(StoreError::Invalid(format!(
                "alias {source} cannot target itself"
            )));
        }
        checked.insert(key, a.to_string());
    }
    Ok(NewAlias {
        source,
        source_key,
        domain,
        targets: checked,
    })
}

/// `local@domain` or `@domain`, normalised; and the domain.
pub(crate) fn parse_alias_source(text: &str) -> Result<(String, String), StoreError> {
    if let Some(domain) = text.strip_prefix('@') {
        let domain = domain_name(domain)?;
        return Ok((format!("@{domain}"), domain));
    }
    let a = parse_address(text)?;
    Ok((a.to_string(), a.domain().to_string()))
}

/// The role addresses of `domain` ([`ROLE_ADDRESSES`]), with their keys.
pub(crate) fn role_addresses(domain: &str) -> Vec<(String, String)> {
    ROLE_ADDRESSES
        .iter()
        .map(|local| {
            let source = format!("{local}@{domain}");
            let key = address_key(&source);
            (source, key)
        })
        .collect()
}

/// A freshly generated key for each algorithm, for a domain that lacks one.
pub(crate) struct NewKeys {
    pub(crate) keys: Vec<(DkimAlgorithm, DkimPrivateKey)>,
    pub(crate) created: i64,
}

/// Generate one key per algorithm (RSA-2048 and Ed25519), outside any transaction: RSA is
/// slow.
pub(crate) fn generate_keys(now: i64) -> Result<NewKeys, StoreError> {
    let keys = DkimAlgorithm::ALL
        .into_iter()
        .map(|a| Ok((a, generate(a)?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(NewKeys { keys, created: now })
}

/// [`generate_keys`] on the blocking pool.
pub(crate) async fn generate_keys_async(now: i64) -> Result<NewKeys, StoreError> {
    tokio::task::spawn_blocking(move || generate_keys(now))
        .await
        .map_err(|e| StoreError::Unavailable(format!("key task: {e}")))?
}

/// `mr2026r`, or `mr2026r2`, `mr2026r3`… if `taken` says a key (maybe inactive) of the same
/// year holds the name: a selector must never be reused for another key (caches would mix
/// them up).
pub(crate) fn free_selector(
    algorithm: DkimAlgorithm,
    created: i64,
    mut taken: impl FnMut(&str) -> Result<bool, StoreError>,
) -> Result<String, StoreError> {
    let base = algorithm.selector(year_of(created));
    let mut candidate = base.clone();
    let mut n = 2;
    while taken(&candidate)? {
        candidate = format!("{base}{n}");
        n += 1;
    }
    Ok(candidate)
}

/// The name a domain's keys are looked up by.
pub(crate) fn dkim_domain(domain: &str) -> String {
    domain.strip_suffix('.').unwrap_or(domain).to_lowercase()
}

/// A domain's active keys, from rows `(domain, selector, algorithm, pkcs8 der, created)`
/// ordered by algorithm descending then newest first: one key per algorithm, RSA first.
pub(crate) fn newest_keys(
    rows: impl IntoIterator<Item = (String, String, String, Vec<u8>, i64)>,
) -> Result<Vec<DkimKey>, StoreError> {
    let mut keys: Vec<DkimKey> = Vec::new();
    for (domain, selector, algorithm, der, created) in rows {
        let algorithm = DkimAlgorithm::parse(&algorithm)
            .ok_or_else(|| StoreError::Invalid(format!("unknown DKIM algorithm {algorithm}")))?;
        // One signature per algorithm: the newest active key of each.
        if keys.iter().any(|k| k.algorithm == algorithm) {
            continue;
        }
        keys.push(DkimKey {
            domain,
            selector,
            algorithm,
            private_key: DkimPrivateKey::from_pkcs8_der(der),
            created,
        });
    }
    Ok(keys)
}

/// What recipient resolution asks of an engine. The futures of the embedded engine are
/// ready at once (see [`ready`]); PostgreSQL's query the database.
pub(crate) trait Lookup {
    /// The account with address key `key`.
    fn account_id(&mut self, key: &str) -> impl Future<Output = Result<Option<i64>, StoreError>>;
    /// The targets of the alias with source key `key`, by target key; empty if none.
    fn alias_targets(&mut self, key: &str)
    -> impl Future<Output = Result<Vec<String>, StoreError>>;
    /// Whether `domain` is hosted.
    fn domain_exists(&mut self, domain: &str) -> impl Future<Output = Result<bool, StoreError>>;
    /// The oldest hosted domain.
    fn first_domain(&mut self) -> impl Future<Output = Result<Option<String>, StoreError>>;
}

/// The state of one resolution: addresses met (so cycles end), accounts found, and the
/// addresses still to resolve with their alias depth (a stack: depth first, in order).
#[derive(Default)]
struct Walk {
    seen: BTreeSet<String>,
    ids: BTreeSet<i64>,
    pending: Vec<(Address, usize)>,
}

/// Who `text` delivers to. Case-insensitive throughout. Order, first match wins:
/// 1. an account with exactly that address;
/// 2. an alias with exactly that source (targets resolved the same way, recursively, at most
///    [`MAX_ALIAS_DEPTH`] deep, each address once, so cycles end);
/// 3. for `local+tag@d` (RFC 5233), steps 1–2 for `local@d`;
/// 4. the catch-all alias `@d`;
/// 5. the domain is ours → `UnknownUser`; else `NotOurDomain`.
///
/// Alias targets on other domains are skipped (the store does not forward), so an alias with
/// only remote targets resolves to `UnknownUser`.
///
/// The bare `postmaster` (RFC 5321 §4.1.1.3, §4.5.1: `RCPT TO:<Postmaster>` with no domain)
/// is `postmaster@` the first hosted domain (the oldest; domains are made with that alias).
pub(crate) async fn resolve_recipient(
    l: &mut impl Lookup,
    text: &str,
) -> Result<Resolution, StoreError> {
    let postmaster;
    let text = if text.eq_ignore_ascii_case(POSTMASTER) {
        let Some(domain) = l.first_domain().await? else {
            return Ok(Resolution::UnknownUser);
        };
        postmaster = format!("{POSTMASTER}@{domain}");
        postmaster.as_str()
    } else {
        text
    };
    let address = match Address::parse(text) {
        Ok(a) => a,
        Err(e) => return Ok(Resolution::Invalid(e.to_string())),
    };
    if !l.domain_exists(address.domain()).await? {
        return Ok(Resolution::NotOurDomain);
    }
    let mut walk = Walk::default();
    walk.pending.push((address, 0));
    finish(l, &mut walk).await?;
    Ok(if walk.ids.is_empty() {
        Resolution::UnknownUser
    } else {
        Resolution::Local(walk.ids.into_iter().collect())
    })
}

/// Whether `account_id` may use `text` as its sender address: the account's own address
/// (also with a `+tag`) or an alias reaching it; a catch-all does not count (it would let an
/// account send as every address of the domain).
pub(crate) async fn owns_address(
    l: &mut impl Lookup,
    account_id: i64,
    text: &str,
) -> Result<bool, StoreError> {
    let Ok(address) = Address::parse(text) else {
        return Ok(false);
    };
    for candidate in &exact_candidates(&address) {
        let mut walk = Walk::default();
        walk.seen.insert(address_key(&address.to_string()));
        if exact_match(l, candidate, 0, &mut walk).await? {
            finish(l, &mut walk).await?;
            return Ok(walk.ids.contains(&account_id));
        }
    }
    Ok(false)
}

/// The role addresses of `domain` that reach no account.
pub(crate) async fn missing_role_addresses(
    l: &mut impl Lookup,
    domain: &str,
) -> Result<Vec<String>, StoreError> {
    let domain = domain_name(domain)?;
    let mut missing = Vec::new();
    for (address, _) in role_addresses(&domain) {
        match resolve_recipient(l, &address).await? {
            Resolution::Local(ids) if !ids.is_empty() => {}
            _ => missing.push(address),
        }
    }
    Ok(missing)
}

/// Resolve every pending address: steps 1–4 of [`resolve_recipient`] for each.
async fn finish(l: &mut impl Lookup, walk: &mut Walk) -> Result<(), StoreError> {
    while let Some((address, depth)) = walk.pending.pop() {
        if !walk.seen.insert(address_key(&address.to_string())) {
            continue; // a cycle, or a target listed twice
        }
        let mut matched = false;
        for candidate in &exact_candidates(&address) {
            if exact_match(l, candidate, depth, walk).await? {
                matched = true;
                break;
            }
        }
        if !matched {
            let catch_all = format!("@{}", address.domain());
            follow_alias(l, &catch_all, depth, walk).await?;
        }
    }
    Ok(())
}

/// The address, then the address without its `+tag` (if it has one): the names an account
/// or an exact alias may have.
fn exact_candidates(address: &Address) -> Vec<Address> {
    let mut candidates = vec![address.clone()];
    candidates.extend(address.without_tag());
    candidates
}

/// Steps 1–2: an account, else an alias (its targets queued). Whether either exists.
async fn exact_match(
    l: &mut impl Lookup,
    address: &Address,
    depth: usize,
    walk: &mut Walk,
) -> Result<bool, StoreError> {
    let key = address_key(&address.to_string());
    if let Some(id) = l.account_id(&key).await? {
        walk.ids.insert(id);
        return Ok(true);
    }
    follow_alias(l, &key, depth, walk).await
}

/// Queue the targets of the alias `source_key`, if there is one. Whether there is.
async fn follow_alias(
    l: &mut impl Lookup,
    source_key: &str,
    depth: usize,
    walk: &mut Walk,
) -> Result<bool, StoreError> {
    let targets = l.alias_targets(source_key).await?;
    if targets.is_empty() {
        return Ok(false);
    }
    if depth >= MAX_ALIAS_DEPTH {
        tracing::warn!(
            alias = source_key,
            "Alias chain too deep; not following it further."
        );
        return Ok(true);
    }
    let mut local = Vec::new();
    for target in targets {
        // Targets were checked when added; a bad or remote one is skipped, not fatal.
        let Ok(address) = Address::parse(&target) else {
            continue;
        };
        if l.domain_exists(address.domain()).await? {
            local.push((address, depth + 1));
        }
    }
    // Popped in the order the targets are listed.
    walk.pending.extend(local.into_iter().rev());
    Ok(true)
}

/// Drive a future that never waits (the embedded engine's [`Lookup`] runs its queries
/// synchronously) to its end.
pub(crate) fn ready<T>(
    future: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(StoreError::Unavailable(
            "a synchronous lookup waited".into(),
        )),
    }
}

/// Whether an account holding `used` of its `quota` (0: none) cannot take `size` more
/// octets; with `size` 0, whether it is already at or over its quota.
pub(crate) fn over_quota(quota: i64, used: i64, size: u64) -> bool {
    let (quota, used) = (quota.max(0) as u64, used.max(0) as u64);
    quota > 0 && (used.saturating_add(size) > quota || used >= quota)
}

/// Verify `password` for a looked-up account; slow (argon2), so call it on a blocking thread.
/// With no account, a dummy hash is verified anyway, so a miss costs the same time as a hit.
pub(crate) fn check_password(
    found: Option<(Account, String)>,
    password: &Secret,
) -> Option<Account> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    match found {
        // A disabled account is refused like a wrong password, after the same work.
        Some((account, phc)) => {
            (verify_password(password, &phc) && !account.disabled).then_some(account)
        }
        None => {
            let dummy = DUMMY
                .get_or_init(|| hash_password(&Secret::new("no such account")).unwrap_or_default());
            let _ = verify_password(password, dummy);
            None
        }
    }
}

/// [`check_password`] on the blocking pool.
pub(crate) async fn check_password_async(
    found: Option<(Account, String)>,
    password: Secret,
) -> Result<Option<Account>, StoreError> {
    tokio::task::spawn_blocking(move || check_password(found, &password))
        .await
        .map_err(|e| StoreError::Unavailable(format!("password task: {e}")))
}

/// The run of `failures` in `scope` last failed at `last_at`, as a [`Lockout`], and whether
/// it locks at `now` under `policy`.
pub(crate) fn judge(
    scope: LockoutScope,
    key: String,
    failures: u32,
    last_at: i64,
    now: i64,
    policy: &LockoutPolicy,
) -> (Lockout, bool) {
    let max = policy.threshold(scope);
    let until = last_at.saturating_add(policy.secs as i64);
    let active = max > 0 && failures >= max && until > now;
    (
        Lockout {
            scope,
            key,
            failures,
            until,
        },
        active,
    )
}

/// The lockouts a failure just began, given the runs' lengths after it: no later failure
/// is counted while one holds (the login is refused unchecked), so each is reported once.
pub(crate) fn begun_lockouts(
    account_key: String,
    account_failures: u32,
    ip: String,
    ip_failures: u32,
    now: i64,
    policy: &LockoutPolicy,
) -> Vec<Lockout> {
    [
        (LockoutScope::Account, account_key, account_failures),
        (LockoutScope::Ip, ip, ip_failures),
    ]
    .into_iter()
    .map(|(scope, key, n)| judge(scope, key, n, now, now, policy))
    .filter(|(_, active)| *active)
    .map(|(lockout, _)| lockout)
    .collect()
}

/// The scope as stored.
pub(crate) fn scope_named(text: &str) -> LockoutScope {
    if text == LockoutScope::Ip.as_str() {
        LockoutScope::Ip
    } else {
        LockoutScope::Account
    }
}

/// What an admin's "clear lockout" names: a client IP, else an account.
pub(crate) fn lockout_target(target: &str) -> (LockoutScope, String) {
    match target.parse::<std::net::IpAddr>() {
        Ok(ip) => (LockoutScope::Ip, ip.to_string()),
        Err(_) => (LockoutScope::Account, address_key(target)),
    }
}

/// `NotFound` for clearing a target with no failures.
pub(crate) fn no_failures(target: &str) -> StoreError {
    StoreError::NotFound(format!("failed logins of {target}"))
}

/// Every API token starts so, which tells a token from a password in logs and secret
/// scanners.
pub(crate) const TOKEN_PREFIX: &str = "mrt_";
/// Longest token name.
pub(crate) const MAX_TOKEN_NAME: usize = 100;

/// A new API token of `account` named `name`, checked: the trimmed name and the secret to
/// show once. Only admins have tokens.
pub(crate) fn new_token(account: &Account, name: &str) -> Result<(String, String), StoreError> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TOKEN_NAME
        || name.chars().any(char::is_control)
    {
        return Err(StoreError::Invalid(format!(
            "a token name is 1 to {MAX_TOKEN_NAME} printable characters"
        )));
    }
    if account.role != Role::Admin {
        return Err(StoreError::Invalid(format!(
            "{} is not an admin; only admins have API tokens",
            account.address
        )));
    }
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| StoreError::Unavailable("no randomness for a token".into()))?;
    Ok((
        name.to_string(),
        format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)),
    ))
}

/// Whether a token found for a secret still acts: its account is an enabled admin.
pub(crate) fn token_acts(account: &Account) -> bool {
    account.role == Role::Admin && !account.disabled
}

/// The LIKE pattern for "contains `q`" in the admin's greylist search: `q`'s own wildcards
/// are dropped rather than escaped (no one searches for them).
pub(crate) fn contains_pattern(q: &str) -> String {
    format!("%{}%", q.replace(['%', '_'], ""))
}

/// What the self-check finds wrong with one body: its reference count against the messages
/// that use it, and its content (`Ok` with its SHA-256 in hex, or why it could not be read)
/// against its name.
pub(crate) fn blob_problems(
    hash: &str,
    refcount: i64,
    used: i64,
    content: Result<String, StoreError>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if refcount != used {
        problems.push(format!(
            "blob {hash}: refcount {refcount} but {used} messages"
        ));
    }
    match content {
        Ok(sha) if sha != hash => {
            problems.push(format!("blob {hash}: content does not match its name"));
        }
        Ok(_) => {}
        Err(e) => problems.push(format!("blob {hash}: {e}")),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_exceeded_only_past_it_and_zero_is_none() {
        assert!(!over_quota(0, 10_000, 10_000), "no quota");
        assert!(!over_quota(100, 40, 60), "exactly full fits");
        assert!(over_quota(100, 40, 61));
        assert!(over_quota(100, 100, 0), "at the quota already");
        assert!(!over_quota(100, 99, 0));
    }

    #[test]
    fn a_selector_taken_by_an_older_key_gets_a_number() {
        let created = 1_767_225_600; // 2026-01-01
        let free = free_selector(DkimAlgorithm::RsaSha256, created, |_| Ok(false));
        assert_eq!(free, Ok("mr2026r".to_string()));
        let taken = ["mr2026r", "mr2026r2"];
        let free = free_selector(
            DkimAlgorithm::RsaSha256,
            created,
            |s| Ok(taken.contains(&s)),
        );
        assert_eq!(free, Ok("mr2026r3".to_string()));
    }

    #[test]
    fn a_failure_reports_only_the_lockouts_it_begins() {
        let policy = LockoutPolicy {
            account_failures: 2,
            ip_failures: 3,
            secs: 100,
        };
        let begun = |a, i| {
            begun_lockouts("a@x.test".into(), a, "192.0.2.1".into(), i, 1000, &policy)
                .into_iter()
                .map(|l| (l.scope, l.failures, l.until))
                .collect::<Vec<_>>()
        };
        assert_eq!(begun(1, 1), []);
        assert_eq!(begun(2, 1), [(LockoutScope::Account, 2, 1100)]);
        assert_eq!(
            begun(2, 3),
            [
                (LockoutScope::Account, 2, 1100),
                (LockoutScope::Ip, 3, 1100)
            ]
        );
        let off = LockoutPolicy {
            account_failures: 0,
            ..policy
        };
        let (_, active) = judge(LockoutScope::Account, "k".into(), 50, 1000, 1000, &off);
        assert!(!active, "0 turns the account lockout off");
    }

    #[test]
    fn clearing_names_an_ip_or_an_account() {
        assert_eq!(
            lockout_target("192.0.2.7"),
            (LockoutScope::Ip, "192.0.2.7".into())
        );
        assert_eq!(
            lockout_target("Alice@Example.TEST"),
            (LockoutScope::Account, "alice@example.test".into())
        );
    }

    #[test]
    fn the_greylist_search_drops_wildcards() {
        assert_eq!(contains_pattern("a%b_c"), "%abc%");
        assert_eq!(contains_pattern(""), "%%");
    }

    #[test]
    fn a_body_is_checked_for_its_count_and_its_content() {
        let ok = blob_problems("ab", 2, 2, Ok("ab".into()));
        assert!(ok.is_empty());
        let bad = blob_problems("ab", 1, 2, Ok("cd".into()));
        assert_eq!(
            bad,
            [
                "blob ab: refcount 1 but 2 messages",
                "blob ab: content does not match its name"
            ]
        );
    }
}
