//! The one place that owns process signals: SIGHUP becomes a [`Reload`] request and
//! SIGTERM/SIGINT end [`Signals::wait_for_shutdown`], which `main` follows with the drain.
//!
//! Install the handlers before binding any listener: from then on a signal is queued, not
//! fatal, even if it arrives before the server is ready to act on it.

use crate::reload::{ConfigWatcher, Reload};
use actix::Addr;
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

    /// Turn SIGHUPs into reloads until SIGTERM or SIGINT arrives, then return its name.
    pub async fn wait_for_shutdown(mut self, watcher: Addr<ConfigWatcher>) -> &'static str {
        loop {
            tokio::select! {
                _ = self.hup.recv() => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    // The outcome is logged by the watcher itself.
                    let _ = watcher.send(Reload).await;
                }
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
            }
        }
    }
}
