//! Starting and stopping the server under test.

use anyhow::{Context, Result, bail};
use rusqlite::OptionalExtension;
use std::collections::BTreeSet;
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

    /// The messages in `address`'s INBOX, oldest first, read from the data directory
    /// (read-only: the server keeps running).
    pub fn inbox(&self, address: &str) -> Result<Vec<Vec<u8>>> {
        self.mailbox(address, "INBOX")
    }

    /// The messages in `address`'s mailbox `name`, oldest first (see [`Server::inbox`]).
    pub fn mailbox(&self, address: &str, name: &str) -> Result<Vec<Vec<u8>>> {
        let db = rusqlite::Connection::open_with_flags(
            self.data_dir().join("mailroom.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut stmt = db.prepare(
            "SELECT m.blob, b.data FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id \
             JOIN accounts a ON a.id = x.account_id JOIN blobs b ON b.sha256 = m.blob \
             WHERE lower(a.address) = lower(?1) AND x.name = ?2 ORDER BY m.uid",
        )?;
        let rows: Vec<(String, Option<Vec<u8>>)> = stmt
            .query_map([address, name], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        // Small bodies live in their blob row, larger ones in a file named by the hash.
        rows.into_iter()
            .map(|(h, data)| match data {
                Some(data) => Ok(data),
                None => {
                    let path = self.data_dir().join("blobs").join(&h[..2]).join(&h[2..]);
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
                }
            })
            .collect()
    }

    /// The ids in the store's event log, ascending.
    pub fn event_ids(&self) -> Result<Vec<i64>> {
        let db = rusqlite::Connection::open_with_flags(
            self.data_dir().join("mailroom.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut stmt = db.prepare("SELECT id FROM events ORDER BY id")?;
        let rows = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The single number a read-only `query` answers (e.g. a `count(*)`).
    pub fn sql_count(&self, query: &str) -> Result<i64> {
        let db = rusqlite::Connection::open_with_flags(
            self.data_dir().join("mailroom.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        Ok(db.query_row(query, [], |r| r.get(0))?)
    }

    /// Put a message into the outbound queue directly in the database, as a submission by
    /// `account` (whose Inbox gets the DSNs) would: for tests of delivery that do not need the
    /// submission listener. The running server picks it up at its next poll (about a second).
    /// Returns the queue message id.
    pub fn enqueue(&self, account: &str, sender: &str, to: &[&str], body: &str) -> Result<i64> {
        let db = rusqlite::Connection::open(self.data_dir().join("mailroom.db"))?;
        db.busy_timeout(Duration::from_secs(10))?;
        let tx = db.unchecked_transaction()?;
        let account_id: i64 = tx.query_row(
            "SELECT id FROM accounts WHERE address_key = ?1",
            [account.to_lowercase()],
            |r| r.get(0),
        )?;
        let id: i64 = tx.query_row(
            "INSERT INTO queue_messages (account_id, sender, created, size, body) \
             VALUES (?1, ?2, unixepoch(), ?3, ?4) RETURNING id",
            rusqlite::params![account_id, sender, body.len() as i64, body.as_bytes()],
            |r| r.get(0),
        )?;
        for rcpt in to {
            let domain = rcpt.rsplit_once('@').map_or("", |(_, d)| d).to_lowercase();
            tx.execute(
                "INSERT INTO queue_recipients (message_id, address, domain, status, next_attempt, notify) \
                 VALUES (?1, ?2, ?3, 'queued', 0, 12)",
                rusqlite::params![id, rcpt, domain],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Whether `address`'s INBOX holds exactly `n` messages within `deadline` (polled).
    pub fn inbox_reaches(&self, address: &str, n: usize, deadline: Duration) -> bool {
        wait_until(deadline, || {
            self.inbox(address).map(|m| m.len() == n).unwrap_or(false)
        })
    }

    /// How many messages `address`'s spam classifier was trained on: (spam, ham).
    pub fn bayes_trained(&self, address: &str) -> Result<(i64, i64)> {
        let db = rusqlite::Connection::open_with_flags(
            self.data_dir().join("mailroom.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let counts = db
            .query_row(
                "SELECT t.spam, t.ham FROM bayes_totals t JOIN accounts a ON a.id = t.account_id \
                 WHERE a.address_key = lower(?1)",
                [address],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(counts.unwrap_or((0, 0)))
    }

    /// The bodies (JSON) of the logged events of `kind`, oldest first.
    pub fn events_of(&self, kind: &str) -> Result<Vec<serde_json::Value>> {
        let db = rusqlite::Connection::open_with_flags(
            self.data_dir().join("mailroom.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut stmt = db.prepare("SELECT body FROM events WHERE kind = ?1 ORDER BY id")?;
        let bodies: Vec<String> = stmt
            .query_map([kind], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(bodies
            .iter()
            .map(|b| serde_json::from_str(b))
            .collect::<Result<_, _>>()?)
    }

    /// Every stored body: its SHA-256 and how many messages refer to it.
    pub fn blobs(&self) -> Result<Vec<(String, i64)>> {
        let db = rusqlite::Connection::open_with_flags(
            self.data_dir().join("mailroom.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut stmt = db.prepare("SELECT sha256, refcount FROM blobs ORDER BY sha256")?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
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

    /// Run a CLI subcommand against this server's config, feeding `stdin` if given.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        run_cli(
            &self.bin,
            Some(&self.config_path()),
            self.dir.path(),
            args,
            stdin,
        )
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
