//! The management subcommands. While a server runs on the configured data directory (its
//! control file is there and it answers), they go to that server's API ([`crate::remote`]),
//! so that its sessions hear of every change. Otherwise they open the configured store in
//! this process and send it the same requests as the panel and the API, through the same
//! actor and writer: one write path.

use crate::{listing, remote};
use anyhow::{Context as _, anyhow, bail};
use clap::Subcommand;
use mailroom_config::{ConfigSource, load};
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_shared::queue::{QueueReply, QueueRequest};
use mailroom_store::actor::Flush;
use mailroom_store::dkim::DkimKey;
use mailroom_store::types::Role;
use mailroom_store::{
    Account, Alias, Domain, Lockout, LockoutPolicy, MailboxStore, StoreAdmin, StoreError,
};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum DomainAction {
    /// Accept mail for NAME.
    Add { name: String },
    /// List the domains.
    List,
    /// Stop accepting mail for NAME (it must have no accounts left).
    Remove { name: String },
    /// Print the DNS TXT records that publish NAME's DKIM public keys, one per selector.
    Dkim { name: String },
}

#[derive(Subcommand)]
pub(crate) enum UserAction {
    /// Create an account; the password is read from the first line of standard input.
    Add {
        address: String,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
        /// Mailbox quota in bytes (0 or absent: unlimited).
        #[arg(long, value_name = "BYTES")]
        quota: Option<u64>,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Change an account's password, read from standard input.
    Passwd {
        address: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Remove an account with all its mail.
    Remove { address: String },
}

#[derive(Subcommand)]
pub(crate) enum AliasAction {
    /// Deliver mail for SOURCE (`a@dom`, or `@dom` for a catch-all) to TARGET…
    Add {
        source: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// List aliases.
    List,
    /// Remove the alias SOURCE.
    Remove { source: String },
}

#[derive(Subcommand)]
pub(crate) enum LockoutAction {
    /// List failed-login records still remembered; those that lock are marked `LOCKED`.
    List,
    /// Lift the lockout of TARGET, an account address or a client IP address.
    Clear { target: String },
}

#[derive(Subcommand)]
pub(crate) enum QueueAction {
    /// List the recipients still queued: message id, status, attempts, next attempt, error.
    List,
    /// Try queued message ID now (also its held recipients), or `all` queued mail.
    Retry { id: String },
    /// Drop queued message ID without a bounce.
    Delete { id: i64 },
    /// Keep queued message ID from being tried until released.
    Hold { id: i64 },
    /// Let held message ID be tried again, now.
    Release { id: i64 },
}

#[derive(Subcommand)]
pub(crate) enum ConfigAction {
    /// Validate FILE: exit 0 if it is valid, else print every problem and exit 1.
    Check { file: PathBuf },
}

/// The store as a CLI command uses it: its engine opened in this process behind the same
/// actor and requests as the server's, each request driven to completion before the next.
struct CliStore {
    system: actix_rt::SystemRunner,
    admin: StoreAdmin,
}

/// Blocking forms of the [`StoreAdmin`] requests a command sends.
macro_rules! blocking {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $out:ty; )*) => {
        $(
            fn $name(&self, $($arg: $ty),*) -> Result<$out, StoreError> {
                self.system.block_on(self.admin.$name($($arg),*))
            }
        )*
    };
}

impl CliStore {
    blocking! {
        domain_add(name: &str) -> Domain;
        missing_role_addresses(domain: &str) -> Vec<String>;
        domain_list() -> Vec<Domain>;
        domain_remove(name: &str) -> ();
        domain_dkim(name: &str) -> Vec<DkimKey>;
        user_add(address: &str, password: &Secret, role: Role, quota: Option<u64>) -> Account;
        user_passwd(address: &str, password: &Secret) -> ();
        user_list() -> Vec<Account>;
        user_remove(address: &str) -> ();
        alias_add(source: &str, targets: &[String]) -> Alias;
        alias_list() -> Vec<Alias>;
        alias_remove(source: &str) -> ();
        lockouts(policy: &LockoutPolicy) -> Vec<(Lockout, bool)>;
        lockout_clear(target: &str) -> ();
        queue(request: &QueueRequest) -> QueueReply;
    }
}

impl Drop for CliStore {
    fn drop(&mut self) {
        // Everything was committed when its request returned; this closes the writer.
        if let Ok(Err(e)) = self.system.block_on(self.admin.store().send(Flush)) {
            eprintln!("warning: closing the store: {e}");
        }
    }
}

fn open_store(source: &ConfigSource) -> anyhow::Result<CliStore> {
    let config = load(source).map_err(|errors| anyhow!(mailroom_config::describe(&errors)))?;
    let dir = &config.server.data_dir;
    let system = actix_rt::System::new();
    let admin = system
        .block_on(async {
            let engine = mailroom_store::open_beside_server(&config)?;
            Ok::<_, StoreError>(StoreAdmin::new(MailboxStore::start_with(
                engine,
                Bus::start(),
            )))
        })
        .with_context(|| format!("cannot open the store in {}", dir.display()))?;
    Ok(CliStore { system, admin })
}

pub(crate) fn read_password() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(Secret::new(password))
}

pub(crate) fn domain(source: &ConfigSource, action: DomainAction) -> anyhow::Result<ExitCode> {
    if let Some(server) = remote::Server::find(source)? {
        return remote::domain(&server, action);
    }
    let store = open_store(source)?;
    match action {
        DomainAction::Add { name } => {
            let domain = store.domain_add(&name)?;
            println!("added domain {}", domain.name);
            let missing = store.missing_role_addresses(&domain.name)?;
            if !missing.is_empty() {
                // RFC 5321 §4.5.1 (postmaster), RFC 2142 §2 (abuse).
                eprintln!(
                    "warning: no account receives mail for {}; add an alias to an account \
                     (with an admin account, new domains get them automatically)",
                    missing.join(" and ")
                );
            }
        }
        DomainAction::List => {
            for domain in store.domain_list()? {
                println!("{}", domain.name);
            }
        }
        DomainAction::Remove { name } => {
            store.domain_remove(&name)?;
            println!("removed domain {name}");
        }
        DomainAction::Dkim { name } => {
            // Zone-file lines, ready to paste (RFC 6376 §3.6.2.1).
            for key in store.domain_dkim(&name)? {
                println!("{}", key.zone_record()?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn user(source: &ConfigSource, action: UserAction) -> anyhow::Result<ExitCode> {
    if let Some(server) = remote::Server::find(source)? {
        return remote::user(&server, action);
    }
    let store = open_store(source)?;
    match action {
        UserAction::Add {
            address,
            admin,
            quota,
            ..
        } => {
            let password = read_password()?;
            let role = if admin { Role::Admin } else { Role::User };
            let account = store.user_add(&address, &password, role, quota)?;
            println!("added {} account {}", account.role, account.address);
        }
        UserAction::Passwd { address, .. } => {
            let password = read_password()?;
            store.user_passwd(&address, &password)?;
            println!("changed the password of {address}");
        }
        UserAction::List => {
            for a in store.user_list()? {
                listing::account(&a.address, a.role.as_str(), a.quota_bytes, a.used_bytes);
            }
        }
        UserAction::Remove { address } => {
            store.user_remove(&address)?;
            println!("removed account {address}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn alias(source: &ConfigSource, action: AliasAction) -> anyhow::Result<ExitCode> {
    if let Some(server) = remote::Server::find(source)? {
        return remote::alias(&server, action);
    }
    let store = open_store(source)?;
    match action {
        AliasAction::Add { source, targets } => {
            let alias = store.alias_add(&source, &targets)?;
            println!(
                "added alias {} -> {}",
                alias.source,
                alias.targets.join(", ")
            );
        }
        AliasAction::List => {
            for alias in store.alias_list()? {
                println!("{}\t{}", alias.source, alias.targets.join(", "));
            }
        }
        AliasAction::Remove { source } => {
            store.alias_remove(&source)?;
            println!("removed alias {source}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn lockout(source: &ConfigSource, action: LockoutAction) -> anyhow::Result<ExitCode> {
    if let Some(server) = remote::Server::find(source)? {
        return remote::lockout(&server, action);
    }
    let config = load(source).map_err(|errors| anyhow!(mailroom_config::describe(&errors)))?;
    let store = open_store(source)?;
    match action {
        LockoutAction::List => {
            let policy = LockoutPolicy::from_config(&config);
            for (l, active) in store.lockouts(&policy)? {
                listing::lockout(l.scope.as_str(), &l.key, l.failures, l.until, active);
            }
        }
        LockoutAction::Clear { target } => {
            store.lockout_clear(&target)?;
            println!("lifted the lockout of {target}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn queue(source: &ConfigSource, action: QueueAction) -> anyhow::Result<ExitCode> {
    if let Some(server) = remote::Server::find(source)? {
        return remote::queue(&server, action);
    }
    let store = open_store(source)?;
    let (request, verb, id) = match action {
        QueueAction::List => (QueueRequest::List, "", 0),
        QueueAction::Retry { id } if id == "all" => (QueueRequest::RetryAll, "retrying", 0),
        QueueAction::Retry { id } => {
            let id: i64 = id
                .parse()
                .map_err(|_| anyhow!("`{id}` is not a queue message id or `all`"))?;
            (QueueRequest::Retry(id), "retrying", id)
        }
        QueueAction::Delete { id } => (QueueRequest::Delete(id), "deleted", id),
        QueueAction::Hold { id } => (QueueRequest::Hold(id), "held", id),
        QueueAction::Release { id } => (QueueRequest::Release(id), "released", id),
    };
    match store.queue(&request)? {
        QueueReply::Rows(rows) => listing::queue(&rows),
        QueueReply::Changed(n) if request == QueueRequest::RetryAll => {
            println!("{verb} {n} recipient(s)")
        }
        QueueReply::Changed(0) => bail!("no queued message {id} (or nothing to change)"),
        QueueReply::Changed(n) => println!("{verb} message {id} ({n} recipient(s))"),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn config(action: ConfigAction) -> anyhow::Result<ExitCode> {
    let ConfigAction::Check { file } = action;
    match load(&ConfigSource::file_only(&file)) {
        Ok(config) => {
            for d in config.deprecations() {
                eprintln!("{}: warning: {d}", file.display());
            }
            println!("{}: valid", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", file.display());
            }
            eprintln!("{}: {} problem(s)", file.display(), errors.len());
            Ok(ExitCode::FAILURE)
        }
    }
}
