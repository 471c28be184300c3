//! The one place that owns process signals. `main` installs them and splits them in two:
//! [`Hangups`] (SIGHUP, each one a reload request) and [`Termination`] (SIGTERM/SIGINT, the
//! shutdown future that `mailroom::run` is given). Nothing else listens for signals.
//!
//! Install the handlers before binding any listener: from then on a signal is queued, not
//! fatal, even if it arrives before the server is ready to act on it.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Installed handlers for SIGHUP, SIGTERM and SIGINT.
pub struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Take over the three signals now. Must run inside the System's runtime.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The reload requests and the shutdown request, to be handed out separately.
    pub fn split(self) -> (Hangups, Termination) {
        (
            Hangups(self.hup),
            Termination {
                term: self.term,
                int: self.int,
            },
        )
    }
}

/// SIGHUPs, each a request to reload the configuration.
pub struct Hangups(Signal);

impl Hangups {
    /// Resolves at the next SIGHUP.
    pub async fn next(&mut self) {
        // `None` only if the signal driver is gone, i.e. the runtime is ending.
        if self.0.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

/// SIGTERM and SIGINT: the request to drain and stop.
pub struct Termination {
    term: Signal,
    int: Signal,
}

impl Termination {
    /// Resolves at the first SIGTERM or SIGINT, with its name.
    pub async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
