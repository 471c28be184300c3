//! The command line's way to a running server: when the data directory holds the control file
//! of a server that answers, every management command goes to that server's JSON API (over
//! its loopback control listener), so that the change is made by the server itself and heard
//! by its sessions. Only when no server runs do the commands open the store directly.
//!
//! Output is the same as that of the direct commands, line for line.

use crate::listing;
use crate::manage::{
    AliasAction, DomainAction, LockoutAction, QueueAction, UserAction, read_password,
};
use anyhow::{Context as _, anyhow, bail};
use mailroom::control_file::ControlFile;
use mailroom_config::ConfigSource;
use mailroom_shared::queue::QueueRow;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// How long the command line waits for the server to take the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long it waits for an answer (a new account's password hash takes a moment).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The server refused a request: its HTTP status and its `error` text (shown as is).
#[derive(Debug)]
struct Refused {
    status: u16,
    message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// A running server that answers on its control listener.
pub(crate) struct Server {
    file: ControlFile,
}

impl Server {
    /// The server running on the configured data directory, if one answers there. A control
    /// file whose address takes no connection was left by a server that did not stop cleanly.
    pub(crate) fn find(source: &ConfigSource) -> anyhow::Result<Option<Self>> {
        let config = mailroom_config::load(source)
            .map_err(|errors| anyhow!(mailroom_config::describe(&errors)))?;
        let Some(file) = ControlFile::read(&config.server.data_dir)? else {
            return Ok(None);
        };
        if TcpStream::connect_timeout(&file.addr, CONNECT_TIMEOUT).is_err() {
            return Ok(None);
        }
        Ok(Some(Self { file }))
    }

    /// `method path` with `body`; the answer's JSON (`null` when it has none), or the API's
    /// `error` as the error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("http://{}/api/v1{path}", self.file.addr);
        let secret = self.file.secret.expose().to_string();
        let method = awc::http::Method::from_bytes(method.as_bytes())?;
        actix_rt::System::new().block_on(async move {
            let client = awc::Client::builder().timeout(ANSWER_TIMEOUT).finish();
            let request = client.request(method, &url).bearer_auth(secret);
            let sent = match body {
                Some(body) => request.send_json(&body).await,
                None => request.send().await,
            };
            let mut answer = sent.map_err(|e| anyhow!("the running server did not answer: {e}"))?;
            let bytes = answer
                .body()
                .limit(64 << 20)
                .await
                .context("reading the server's answer")?;
            let value: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).context("the server's answer is not JSON")?
            };
            let status = answer.status();
            if !status.is_success() {
                let message = match value.get("error").and_then(Value::as_str) {
                    Some(error) => error.to_string(),
                    None => format!("the server answered {status}"),
                };
                return Err(Refused {
                    status: status.as_u16(),
                    message,
                }
                .into());
            }
            Ok(value)
        })
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> anyhow::Result<T> {
        serde_json::from_value(self.call("GET", path, None)?)
            .with_context(|| format!("unexpected answer to GET {path}"))
    }
}

/// `text` as one path segment (RFC 3986 §3.3): unreserved characters and `@`, `:`, `+` as
/// they are, every other octet percent-encoded.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@:+".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn domain(server: &Server, action: DomainAction) -> anyhow::Result<ExitCode> {
    #[derive(Deserialize)]
    struct Domain {
        name: String,
    }
    #[derive(Deserialize)]
    struct Record {
        name: String,
        rtype: String,
        value: String,
    }
    match action {
        DomainAction::Add { name } => {
            let added: Domain = serde_json::from_value(server.call(
                "POST",
                "/domains",
                Some(json!({ "name": name })),
            )?)?;
            println!("added domain {}", added.name);
        }
        DomainAction::List => {
            for domain in server.get::<Vec<Domain>>("/domains")? {
                println!("{}", domain.name);
            }
        }
        DomainAction::Remove { name } => {
            server.call("DELETE", &format!("/domains/{}", segment(&name)), None)?;
            println!("removed domain {name}");
        }
        DomainAction::Dkim { name } => {
            let records: Vec<Record> = server.get(&format!("/domains/{}/dns", segment(&name)))?;
            for r in records
                .iter()
                .filter(|r| r.rtype == "TXT" && r.name.contains("._domainkey."))
            {
                println!(
                    "{}",
                    mailroom_store::dkim::txt_zone_line(&format!("{}.", r.name), &r.value)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn user(server: &Server, action: UserAction) -> anyhow::Result<ExitCode> {
    #[derive(Deserialize)]
    struct Account {
        address: String,
        role: String,
        quota: u64,
        used: u64,
    }
    match action {
        UserAction::Add {
            address,
            admin,
            quota,
            ..
        } => {
            let password = read_password()?;
            let body = json!({
                "address": address,
                "password": password.expose(),
                "quota": quota,
                "role": if admin { "admin" } else { "user" },
            });
            let account: Account =
                serde_json::from_value(server.call("POST", "/accounts", Some(body))?)?;
            println!("added {} account {}", account.role, account.address);
        }
        UserAction::Passwd { address, .. } => {
            let password = read_password()?;
            let body = json!({ "password": password.expose() });
            server.call(
                "PATCH",
                &format!("/accounts/{}", segment(&address)),
                Some(body),
            )?;
            println!("changed the password of {address}");
        }
        UserAction::List => {
            for a in server.get::<Vec<Account>>("/accounts")? {
                listing::account(&a.address, &a.role, a.quota, a.used);
            }
        }
        UserAction::Remove { address } => {
            server.call("DELETE", &format!("/accounts/{}", segment(&address)), None)?;
            println!("removed account {address}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn alias(server: &Server, action: AliasAction) -> anyhow::Result<ExitCode> {
    #[derive(Deserialize)]
    struct Alias {
        source: String,
        targets: Vec<String>,
    }
    match action {
        AliasAction::Add { source, targets } => {
            let body = json!({ "source": source, "targets": targets });
            let alias: Alias =
                serde_json::from_value(server.call("POST", "/aliases", Some(body))?)?;
            println!(
                "added alias {} -> {}",
                alias.source,
                alias.targets.join(", ")
            );
        }
        AliasAction::List => {
            for alias in server.get::<Vec<Alias>>("/aliases")? {
                println!("{}\t{}", alias.source, alias.targets.join(", "));
            }
        }
        AliasAction::Remove { source } => {
            server.call("DELETE", &format!("/aliases/{}", segment(&source)), None)?;
            println!("removed alias {source}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn lockout(server: &Server, action: LockoutAction) -> anyhow::Result<ExitCode> {
    #[derive(Deserialize)]
    struct Lockout {
        scope: String,
        target: String,
        failures: u32,
        until: i64,
        locked: bool,
    }
    match action {
        LockoutAction::List => {
            for l in server.get::<Vec<Lockout>>("/lockouts")? {
                listing::lockout(&l.scope, &l.target, l.failures, l.until, l.locked);
            }
        }
        LockoutAction::Clear { target } => {
            server.call("DELETE", &format!("/lockouts/{}", segment(&target)), None)?;
            println!("lifted the lockout of {target}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn queue(server: &Server, action: QueueAction) -> anyhow::Result<ExitCode> {
    let changed = |answer: Value| answer.get("changed").and_then(Value::as_u64).unwrap_or(0);
    // The direct command's words for an unknown id, whichever way the change went.
    let change = |method: &str, path: String, id: i64| {
        server
            .call(method, &path, None)
            .map_err(|e| match e.downcast_ref::<Refused>() {
                Some(r) if r.status == 404 => {
                    anyhow!("no queued message {id} (or nothing to change)")
                }
                _ => e,
            })
    };
    match action {
        QueueAction::List => {
            let rows: Vec<QueueRow> = server.get("/queue")?;
            listing::queue(&rows);
        }
        QueueAction::Retry { id } if id == "all" => bail!(
            "`queue retry all` has no counterpart in the API of the running server; \
             retry messages one by one with `mailroom queue retry ID`"
        ),
        QueueAction::Retry { id } => {
            let id: i64 = id
                .parse()
                .map_err(|_| anyhow!("`{id}` is not a queue message id or `all`"))?;
            let n = changed(change("POST", format!("/queue/{id}/retry"), id)?);
            println!("retrying message {id} ({n} recipient(s))");
        }
        QueueAction::Delete { id } => {
            change("DELETE", format!("/queue/{id}"), id)?;
            println!("deleted message {id}");
        }
        QueueAction::Hold { id } => {
            let n = changed(change("POST", format!("/queue/{id}/hold"), id)?);
            println!("held message {id} ({n} recipient(s))");
        }
        QueueAction::Release { id } => {
            let n = changed(change("POST", format!("/queue/{id}/release"), id)?);
            println!("released message {id} ({n} recipient(s))");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn path_segments_keep_addresses_and_escape_the_rest() {
        assert_eq!(segment("alice+tag@example.test"), "alice+tag@example.test");
        assert_eq!(segment("@catch.all"), "@catch.all");
        assert_eq!(segment("2001:db8::1"), "2001:db8::1");
        assert_eq!(segment("a/b?c#d e%"), "a%2Fb%3Fc%23d%20e%25");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
