//! The `mailroom` binary: the command line. Logic lives in the crates and the wiring of the
//! server in the library's [`mailroom::run`]; this file parses arguments, loads the
//! configuration, owns the process signals and turns outcomes into exit statuses.
//!
//! Exit statuses of `mailroom serve`: 0 after a drain (SIGTERM/SIGINT); 1 when the server
//! cannot start (bad configuration, a port taken…); 74 (`EX_IOERR`) when the store's storage
//! failed while it ran (database file removed or replaced, persistent I/O errors) and 70
//! (`EX_SOFTWARE`) when the store's own code failed (its writer thread panicked): in both
//! cases after a drain, and so that a supervisor restarts it.

mod listing;
mod manage;
mod remote;
mod store_cmd;

use anyhow::anyhow;
use clap::{Parser, Subcommand};
use mailroom_config::ConfigSource;
use std::path::PathBuf;
use std::process::ExitCode;

// glibc malloc was a tenth of the server's CPU under SMTP load (arena locks, consolidation,
// heap trimming between connections); mimalloc's thread-local heaps avoid most of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps the process off transparent huge pages. With THP, the kernel backs the allocator's
/// arena with 2 MiB pages (khugepaged keeps collapsing them even while the server idles), and
/// a huge page stays resident while any octet of it is in use: after 150 big transfers the
/// server held 100 MiB instead of 68 MiB, and 20 MiB more a minute later (bench/memory.sh).
/// The `no_thp` feature stops mimalloc from asking for them; this stops the kernel from
/// giving them unasked, on systems where THP is "always".
fn small_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        // Old kernels (before 3.15) lack it: the server works, with more memory held.
        eprintln!("mailroom: could not turn transparent huge pages off: {e}");
    }
}

/// A whole mail server in one binary: SMTP, submission, IMAP, POP3 and an admin panel.
#[derive(Parser)]
#[command(name = "mailroom", version)]
struct Cli {
    /// Configuration file (default: ./mailroom.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until SIGTERM or SIGINT; SIGHUP reloads the configuration.
    Serve,
    /// Manage the domains mail is accepted for.
    Domain {
        #[command(subcommand)]
        action: manage::DomainAction,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: manage::UserAction,
    },
    /// Manage aliases (exact `a@dom`, catch-all `@dom`).
    Alias {
        #[command(subcommand)]
        action: manage::AliasAction,
    },
    /// Show and lift lockouts after failed logins.
    Lockout {
        #[command(subcommand)]
        action: manage::LockoutAction,
    },
    /// Inspect and manage the outbound queue.
    Queue {
        #[command(subcommand)]
        action: manage::QueueAction,
    },
    /// Work on the store as a whole: `store migrate --to postgres://…`.
    Store {
        #[command(subcommand)]
        action: store_cmd::StoreAction,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        action: manage::ConfigAction,
    },
}

fn main() -> ExitCode {
    small_pages();
    mailroom_shared::telemetry::init();
    mailroom_shared::tls::install_provider();
    let cli = Cli::parse();
    let source = mailroom_config::ConfigSource::discover(cli.config.as_deref());
    let result = match cli.command {
        Command::Serve => serve(source),
        Command::Domain { action } => manage::domain(&source, action),
        Command::User { action } => manage::user(&source, action),
        Command::Alias { action } => manage::alias(&source, action),
        Command::Lockout { action } => manage::lockout(&source, action),
        Command::Queue { action } => manage::queue(&source, action),
        Command::Store { action } => store_cmd::store(&source, action),
        Command::Config { action } => manage::config(action),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailroom: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `mailroom serve`: the library's [`mailroom::run`] under the process's signals.
fn serve(source: ConfigSource) -> anyhow::Result<ExitCode> {
    let config = mailroom_config::load(&source)
        .map_err(|errors| anyhow!(mailroom_config::describe(&errors)))?;
    actix_rt::System::new().block_on(async move {
        // Before anything listens: a client or supervisor that sees a port open may signal us.
        let signals = mailroom_shared::signals::Signals::install()
            .map_err(|e| anyhow!("cannot install signal handlers: {e}"))?;
        let (hangups, termination) = signals.split();
        let settings = mailroom::ServeConfig {
            config,
            source,
            hangups: Some(hangups),
        };
        match mailroom::run(settings, termination.wait()).await {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("mailroom: {e}");
                Ok(ExitCode::from(e.exit_code()))
            }
        }
    })
}
