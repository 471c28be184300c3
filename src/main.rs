//! The `mailroom` binary: the command line and the wiring of the server's parts. Logic lives
//! in the crates; this file only parses arguments, loads the configuration and starts things
//! in dependency order.

mod manage;
mod serve;

use clap::{Parser, Subcommand};
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
        Command::Serve => serve::run(source),
        Command::Domain { action } => manage::domain(&source, action),
        Command::User { action } => manage::user(&source, action),
        Command::Alias { action } => manage::alias(&source, action),
        Command::Lockout { action } => manage::lockout(&source, action),
        Command::Queue { action } => manage::queue(&source, action),
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
