//! `mailroom store`: work on the store as a whole. `migrate` copies the embedded store of a
//! stopped server into an empty PostgreSQL database ([`mailroom_store::migrate`] does the
//! work); this module parses, shows progress and prints what the checks found.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use mailroom_config::{ConfigSource, StoreEngine, load};
use mailroom_store::migrate::{MigrationReport, Progress, migrate_to_postgres};

#[derive(Subcommand)]
pub(crate) enum StoreAction {
    /// Copy the embedded store (SQLite and body files in server.data_dir) of a stopped server
    /// into an empty PostgreSQL database, keeping every id, UID, flag and MODSEQ, and verify
    /// the copy. Then set `[store] engine = "postgres"` and `url` and start the server.
    Migrate {
        /// The target database, `postgres://user:password@host:port/database` (never printed).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

pub(crate) fn store(source: &ConfigSource, action: StoreAction) -> anyhow::Result<ExitCode> {
    let StoreAction::Migrate { to } = action;
    let config = load(source).map_err(|errors| anyhow!(mailroom_config::describe(&errors)))?;
    if config.store.engine != StoreEngine::Embedded {
        bail!(
            "store.engine is not \"embedded\" in this configuration: migrate reads the embedded \
             store of the configuration the server ran with"
        );
    }
    let dir = &config.server.data_dir;
    eprintln!("migrating the store in {} to PostgreSQL", dir.display());
    let mut shown = Shown::new();
    let report = migrate_to_postgres(dir, &to, &mut |p| shown.show(p))
        .map_err(|e| anyhow!("migration failed, nothing was committed: {e}"))?;
    shown.done();
    print_summary(&report);
    Ok(if report.committed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Progress as a bar on a terminal, as a line every few seconds otherwise (a log, a pipe).
struct Shown {
    bar: Option<ProgressBar>,
    phase: &'static str,
    table: String,
    done: u64,
    total: u64,
    last_line: Instant,
}

/// Least time between two plain progress lines.
const LINE_EVERY: Duration = Duration::from_secs(2);

impl Shown {
    fn new() -> Self {
        Self {
            bar: None,
            phase: "copying",
            table: String::new(),
            done: 0,
            total: 0,
            last_line: Instant::now(),
        }
    }

    fn start(&mut self, phase: &'static str, total: u64, unit: &str) {
        self.finish_bar();
        self.phase = phase;
        self.done = 0;
        self.total = total;
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let template =
                format!("{{prefix}} {{msg:18}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{eta}})");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(phase);
            self.bar = Some(bar);
        } else {
            eprintln!("{phase}: {total} {unit}");
        }
    }

    fn show(&mut self, progress: Progress<'_>) {
        match progress {
            Progress::Counted { rows } => self.start("copying", rows, "rows"),
            Progress::Table(name) => {
                self.table = name.to_string();
                if let Some(bar) = &self.bar {
                    bar.set_message(name.to_string());
                }
            }
            Progress::Copied(n) => self.advance(self.done + n),
            Progress::Verifying { bodies } => {
                self.table = "bodies".into();
                self.start("verifying", bodies, "bodies");
            }
            Progress::Verified(n) => self.advance(n),
        }
    }

    fn advance(&mut self, done: u64) {
        self.done = done;
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.last_line.elapsed() >= LINE_EVERY || done == self.total => {
                self.last_line = Instant::now();
                eprintln!("{}: {}/{} ({})", self.phase, done, self.total, self.table);
            }
            None => {}
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }

    fn done(&mut self) {
        self.finish_bar();
    }
}

fn print_summary(report: &MigrationReport) {
    println!("{:<20} {:>12} {:>12}", "table", "embedded", "postgresql");
    for t in &report.tables {
        let mark = if t.source == t.target {
            ""
        } else {
            "  MISMATCH"
        };
        println!("{:<20} {:>12} {:>12}{mark}", t.table, t.source, t.target);
    }
    if report.bad_bodies.is_empty() {
        println!(
            "bodies: {} read back from PostgreSQL ({} octets), every one matches its SHA-256",
            report.bodies_checked, report.body_octets
        );
    } else {
        println!(
            "bodies: {} read back, {} do NOT match their SHA-256 or size:",
            report.bodies_checked,
            report.bad_bodies.len()
        );
        for hash in &report.bad_bodies {
            println!("  {hash}");
        }
    }
    if report.bad_mailboxes.is_empty() {
        println!("mailbox counters: equal");
    } else {
        let ids: Vec<String> = report
            .bad_mailboxes
            .iter()
            .map(|id| id.to_string())
            .collect();
        println!("mailbox counters differ for mailbox ids {}", ids.join(", "));
    }
    if report.committed {
        println!(
            "migrated and verified: set [store] engine = \"postgres\" and url, then start the \
             server"
        );
    } else {
        println!("verification FAILED: nothing was committed, the database is left empty");
    }
}
