//! The drain signal: set once when SIGTERM/SIGINT arrives. Listeners stop handing out
//! sessions and every session says goodbye at its next safe point (between commands).

use tokio::sync::watch;

/// A clonable view of "is the server draining?", with a way to wait for it.
#[derive(Clone)]
pub struct Draining(watch::Receiver<bool>);

/// The one switch that starts the drain; owned by `main`.
pub struct DrainSwitch(watch::Sender<bool>);

/// A new switch and its view.
pub fn drain_signal() -> (DrainSwitch, Draining) {
    let (tx, rx) = watch::channel(false);
    (DrainSwitch(tx), Draining(rx))
}

impl DrainSwitch {
    /// Start draining; idempotent.
    pub fn start(&self) {
        self.0.send_replace(true);
    }

    /// A view of this switch.
    pub fn subscribe(&self) -> Draining {
        Draining(self.0.subscribe())
    }
}

impl Draining {
    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once draining has started (at once if it has); never if the switch is gone
    /// without starting, which only happens when the whole server is going away.
    pub async fn started(&mut self) {
        if self.0.wait_for(|d| *d).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
