//! Starting and stopping the server under test.

use crate::HttpAnswer;
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a server may take to start listening.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Ports handed out so far by this test process: never the same one twice, even after the
/// kernel has released it, so that concurrent tests cannot be given each other's ports.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// `n` distinct free TCP ports on 127.0.0.1. They are held bound until all are chosen, so the
/// kernel cannot repeat one, and then released for the server to bind.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = listener.local_addr().map(|a| a.port()) else {
            continue;
        };
        if handed_out.insert(port) {
            ports.push(port);
        }
        held.push(listener);
    }
    ports
}

/// One free TCP port on 127.0.0.1 (see [`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// A listener on a port of its own on 127.0.0.1, for a test's fake peer (MX, proxy, HTTP
/// receiver). Never `bind(0)` for those: the kernel may hand out a port that a server under
/// test holds between a stop and a restart, and the restarted server's clients would then
/// talk to the fake peer. Ports from [`free_ports`] are never handed out twice.
pub fn listen_on_free_port() -> std::net::TcpListener {
    loop {
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", free_port())) {
            return listener;
        }
    }
}

/// Poll `check` every 20 ms until it is true or `deadline` passes.
pub fn wait_until(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ports of one server's listeners.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub smtp: u16,
    pub submission: u16,
    pub submissions: u16,
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
    pub admin: u16,
}

impl Ports {
    fn fresh() -> Self {
        let p = free_ports(8);
        Self {
            smtp: p[0],
            submission: p[1],
            submissions: p[2],
            imap: p[3],
            imaps: p[4],
            pop3: p[5],
            pop3s: p[6],
            admin: p[7],
        }
    }

    /// All ports, for waiting until each accepts.
    pub fn all(&self) -> [u16; 8] {
        [
            self.smtp,
            self.submission,
            self.submissions,
            self.imap,
            self.imaps,
            self.pop3,
            self.pop3s,
            self.admin,
        ]
    }
}

/// A running `mailroom serve`, killed when dropped.
pub struct Server {
    bin: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub ports: Ports,
    pub hostname: String,
    /// Extra environment for the server process, e.g. `MAILROOM_*` overrides.
    pub env: Vec<(String, String)>,
    /// The server's DNS: `[dns] nameservers` points here unless `extra` has its own `[dns]`,
    /// so no test waits on (or reaches) a real resolver. Empty until a test adds records.
    pub dns: crate::DnsServer,
    /// The file mode creation mask the server process starts with (`sh -c 'umask …; exec …'`);
    /// `None`: the test process's own.
    pub umask: Option<u32>,
    /// The passwords the harness gave accounts, by lowercase address, for reading their
    /// mailboxes over IMAP.
    passwords: Mutex<HashMap<String, String>>,
    /// The harness admin's API token, once made (see [`Server::api`]).
    api_token: Mutex<Option<String>>,
}

impl Server {
    /// Start `bin` with a fresh config and data directory; `extra` is appended to the config
    /// file (more TOML sections).
    pub fn start(bin: &str, extra: &str) -> Result<Self> {
        Self::start_with_env(bin, extra, &[])
    }

    /// Like [`Server::start`], with extra environment variables for the server process.
    pub fn start_with_env(bin: &str, extra: &str, env: &[(&str, &str)]) -> Result<Self> {
        Self::start_inner(bin, extra, env, None)
    }

    /// Like [`Server::start`], the server process started under `umask`.
    pub fn start_with_umask(bin: &str, extra: &str, umask: u32) -> Result<Self> {
        Self::start_inner(bin, extra, &[], Some(umask))
    }

    fn start_inner(
        bin: &str,
        extra: &str,
        env: &[(&str, &str)],
        umask: Option<u32>,
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut server = Self {
            bin: PathBuf::from(bin),
            child: None,
            dir,
            ports: Ports::fresh(),
            hostname: "mail.example.test".into(),
            dns: crate::DnsServer::start()?,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            umask,
            passwords: Mutex::default(),
            api_token: Mutex::default(),
        };
        // A port handed out here can still be taken by another process, or as the source port
        // of some connection, before the server binds it: then start over on fresh ports.
        for attempt in 1.. {
            server.write_config(&server.config_toml(extra))?;
            match server.spawn() {
                Ok(()) => break,
                Err(e) if attempt < 3 && server.log().contains("Address already in use") => {
                    eprintln!("harness: a port was taken ({e:#}); retrying on fresh ports");
                    server.ports = Ports::fresh();
                    std::fs::write(server.log_path(), b"")?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(server)
    }

    /// The config file this harness writes for `ports`, plus `extra`.
    pub fn config_toml(&self, extra: &str) -> String {
        let p = &self.ports;
        let dns = if extra.contains("[dns]") {
            String::new()
        } else {
            format!(
                "[dns]\nnameservers = [\"{}\"]\ntimeout_ms = 1000\n\n",
                self.dns.addr()
            )
        };
        // Spam scoring files minimal test messages (no Date, no Message-ID) in Junk and adds
        // headers: off unless a test is about it.
        let spam = if extra.contains("[spam]") {
            ""
        } else {
            "[spam]\nenabled = false\n\n"
        };
        format!(
            "[server]\nhostname = \"{host}\"\ndata_dir = \"{data}\"\ndrain_timeout_secs = 5\n\n\
             [listeners]\nsmtp = \"127.0.0.1:{}\"\nsubmission = \"127.0.0.1:{}\"\n\
             submissions = \"127.0.0.1:{}\"\nimap = \"127.0.0.1:{}\"\nimaps = \"127.0.0.1:{}\"\n\
             pop3 = \"127.0.0.1:{}\"\npop3s = \"127.0.0.1:{}\"\nadmin = \"127.0.0.1:{}\"\n\n{dns}{spam}{extra}\n",
            p.smtp,
            p.submission,
            p.submissions,
            p.imap,
            p.imaps,
            p.pop3,
            p.pop3s,
            p.admin,
            host = self.hostname,
            data = self.data_dir().display(),
        )
    }

    /// The config file's path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("mailroom.toml")
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Where the server's stderr (its log) goes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// What the server printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Replace the config file (atomically, as an operator's editor would).
    pub fn write_config(&self, text: &str) -> Result<()> {
        let tmp = self.dir.path().join("mailroom.toml.new");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.config_path())?;
        Ok(())
    }

    /// Start the process and wait until every listener accepts.
    pub fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stdout.log"))?;
        let mut command = match self.umask {
            Some(mask) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("umask {mask:03o}; exec \"$0\" \"$@\""))
                    .arg(&self.bin);
                sh
            }
            None => Command::new(&self.bin),
        };
        let child = command
            .arg("--config")
            .arg(self.config_path())
            .arg("serve")
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        self.child = Some(child);
        let ports = self.ports.all();
        // Stop waiting as soon as the process is gone: it will not start listening later.
        let ready = wait_until(START_DEADLINE, || {
            self.exited().is_some() || ports.iter().all(|&p| accepts(p))
        }) && self.exited().is_none();
        if !ready {
            let silent: Vec<u16> = ports.iter().copied().filter(|&p| !accepts(p)).collect();
            bail!(
                "server did not start listening (exit status {:?}, ports not accepting {silent:?}); log:\n{}",
                self.exited(),
                self.log()
            );
        }
        Ok(())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Send a signal by name (`HUP`, `TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()?;
        if !status.success() {
            bail!("kill -{name} failed");
        }
        Ok(())
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Wait up to `deadline` for the process to end.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(deadline, || {
            status = self.exited();
            status.is_some()
        });
        status
    }

    /// The messages in `address`'s INBOX, oldest first, read over IMAP as the account (see
    /// [`Server::mailbox`]).
    pub fn inbox(&self, address: &str) -> Result<Vec<Vec<u8>>> {
        self.mailbox(address, "INBOX")
    }

    /// The messages in `address`'s mailbox `name`, oldest first, read over IMAP (implicit
    /// TLS, read-only EXAMINE, `BODY.PEEK[]`) with the password the harness gave the account
    /// ([`Server::add_users`], [`Server::add_admin`], `user add|passwd` through
    /// [`Server::cli`], or [`Server::remember_password`]).
    pub fn mailbox(&self, address: &str, name: &str) -> Result<Vec<Vec<u8>>> {
        let password = self.password_of(address)?;
        let ca = self.self_signed_cert();
        crate::imap_reader::read_mailbox(
            &crate::imap_reader::ImapLogin {
                port: self.ports.imaps,
                hostname: &self.hostname,
                ca_pem: &ca,
                address,
                password: &password,
            },
            name,
        )
    }

    /// The certificate the server made for itself (no `[tls]` configured), which the
    /// harness's TLS clients trust.
    pub fn self_signed_cert(&self) -> PathBuf {
        self.data_dir()
            .join(format!("tls/{}.selfsigned.crt", self.hostname))
    }

    /// Tell the harness `address`'s password (for an account made some other way, e.g.
    /// through the API), so that [`Server::mailbox`] can log in as it.
    pub fn remember_password(&self, address: &str, password: &str) {
        self.passwords
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(address.to_lowercase(), password.to_string());
    }

    fn password_of(&self, address: &str) -> Result<String> {
        self.passwords
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&address.to_lowercase())
            .cloned()
            .with_context(|| {
                format!("the harness knows no password of {address}: make it with add_users, add_admin or cli, or remember_password")
            })
    }

    /// Whether `address`'s INBOX holds exactly `n` messages within `deadline` (polled).
    pub fn inbox_reaches(&self, address: &str, n: usize, deadline: Duration) -> bool {
        wait_until(deadline, || {
            self.inbox(address).map(|m| m.len() == n).unwrap_or(false)
        })
    }

    /// An admin API request (`/api/v1/…`) as the harness's own admin, by Bearer token. The
    /// admin (`harness@mailroom-harness.test`, in a domain of its own) and its token are made
    /// at the first call, so a test that never calls this sees no trace of them.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> Result<HttpAnswer> {
        let token = self.api_token()?;
        let bearer = format!("Bearer {token}");
        let mut headers = vec![("Authorization", bearer.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        crate::http_request(self.ports.admin, method, path, &headers, body)
    }

    /// `GET path` through [`Server::api`]: the JSON of a 200 answer, else an error.
    pub fn api_get(&self, path: &str) -> Result<serde_json::Value> {
        let answer = self.api("GET", path, None)?;
        if answer.status != 200 {
            bail!("GET {path}: {} {}", answer.status, answer.body);
        }
        answer.json()
    }

    fn api_token(&self) -> Result<String> {
        let mut token = self
            .api_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = token.as_ref() {
            return Ok(t.clone());
        }
        const ADMIN: &str = "harness@mailroom-harness.test";
        const PASSWORD: &str = "harness-password-1";
        // Each step may have been done by an earlier call that failed at a later one.
        let made_or_there = |args: &[&str], stdin: Option<&str>| -> Result<()> {
            let out = self.cli(args, stdin)?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && !stderr.contains("already exists") {
                eprintln!("harness: {}: {stderr}", args.join(" "));
                bail!("{}: {stderr}", args.join(" "));
            }
            Ok(())
        };
        made_or_there(&["domain", "add", "mailroom-harness.test"], None)?;
        made_or_there(
            &["user", "add", ADMIN, "--admin", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        )?;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN}:{PASSWORD}"))
        );
        let made = crate::http_request(
            self.ports.admin,
            "POST",
            "/api/v1/tokens",
            &[
                ("Authorization", basic.as_str()),
                ("Content-Type", "application/json"),
            ],
            Some(r#"{"name":"harness"}"#),
        )?;
        if made.status != 201 {
            bail!("making the harness's API token: {made:?}");
        }
        let secret = made.json()?["token"]
            .as_str()
            .context("no token in the answer")?
            .to_string();
        *token = Some(secret.clone());
        Ok(secret)
    }

    /// The whole event log (`query` narrows it, e.g. `&type=delivered`), oldest first, read
    /// page by page with `after`.
    fn events(&self, query: &str) -> Result<Vec<serde_json::Value>> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self.api_get(&format!("/api/v1/events?after={after}&limit=1000{query}"))?;
            let page = page.as_array().context("events are an array")?.clone();
            let Some(last) = page.last() else {
                return Ok(all);
            };
            after = last["id"].as_i64().context("an event id")?;
            all.extend(page);
        }
    }

    /// The ids in the server's event log, ascending (`GET /api/v1/events`).
    pub fn event_ids(&self) -> Result<Vec<i64>> {
        self.events("")?
            .iter()
            .map(|e| e["id"].as_i64().context("an event id"))
            .collect()
    }

    /// The logged events of `kind`, oldest first (`GET /api/v1/events?type=`): each with its
    /// id, timestamp, type and the type's fields.
    pub fn events_of(&self, kind: &str) -> Result<Vec<serde_json::Value>> {
        self.events(&format!("&type={kind}"))
    }

    /// The outbound queue, one row per recipient still queued or held (`GET /api/v1/queue`):
    /// sender, recipient, status, attempts, last_error ….
    pub fn queue(&self) -> Result<Vec<serde_json::Value>> {
        Ok(self
            .api_get("/api/v1/queue")?
            .as_array()
            .context("the queue is an array")?
            .clone())
    }

    /// How many messages `address`'s spam classifier was trained on: (spam, ham).
    pub fn bayes_trained(&self, address: &str) -> Result<(i64, i64)> {
        let v = self.api_get(&format!("/api/v1/accounts/{address}/classifier"))?;
        let count = |k: &str| v[k].as_i64().with_context(|| format!("{k} in {v}"));
        Ok((count("trained_spam")?, count("trained_ham")?))
    }

    /// Add `domain` and, for each address, an account with password `password-1`.
    pub fn add_users(&self, domain: &str, addresses: &[&str]) -> Result<()> {
        let out = self.cli(&["domain", "add", domain], None)?;
        if !out.status.success() {
            bail!("domain add: {}", String::from_utf8_lossy(&out.stderr));
        }
        for address in addresses {
            let out = self.cli(
                &["user", "add", address, "--password-stdin"],
                Some("password-1\n"),
            )?;
            if !out.status.success() {
                bail!("user add: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        Ok(())
    }

    /// Make an admin account (its domain must be hosted).
    pub fn add_admin(&self, address: &str, password: &str) -> Result<()> {
        let out = self.cli(
            &["user", "add", address, "--admin", "--password-stdin"],
            Some(&format!("{password}\n")),
        )?;
        if !out.status.success() {
            bail!("user add --admin: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Run a CLI subcommand against this server's config, feeding `stdin` if given. The
    /// password of a successful `user add|passwd ADDRESS --password-stdin` is remembered for
    /// [`Server::mailbox`].
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        let out = run_cli(
            &self.bin,
            Some(&self.config_path()),
            self.dir.path(),
            args,
            stdin,
        )?;
        if let (["user", "add" | "passwd", address, ..], Some(text), true) =
            (args, stdin, out.status.success())
            && args.contains(&"--password-stdin")
        {
            // The CLI takes the first line as the password.
            let password = text.lines().next().unwrap_or_default();
            self.remember_password(address, password);
        }
        Ok(out)
    }
}

/// Run `bin [--config FILE] args…` in `cwd`.
pub fn run_cli(
    bin: &Path,
    config: Option<&Path>,
    cwd: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Output> {
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(cwd);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
        pipe.write_all(text.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
