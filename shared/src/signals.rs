//! The one place that owns process signals: SIGHUP becomes a [`Reload`] request and
//! SIGTERM/SIGINT end [`wait_for_shutdown`], which `main` follows with the drain.

use crate::reload::{ConfigWatcher, Reload};
use actix::Addr;
use tokio::signal::unix::{SignalKind, signal};

/// Turn SIGHUPs into reloads until SIGTERM or SIGINT arrives, then return its name.
pub async fn wait_for_shutdown(watcher: Addr<ConfigWatcher>) -> std::io::Result<&'static str> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                // The outcome is logged by the watcher itself.
                let _ = watcher.send(Reload).await;
            }
            _ = term.recv() => return Ok("SIGTERM"),
            _ = int.recv() => return Ok("SIGINT"),
        }
    }
}
