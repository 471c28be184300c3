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
