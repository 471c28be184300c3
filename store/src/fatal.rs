//! A store engine's fatal failure, and how the server hears of it.
//!
//! Most store errors are passing (`Unavailable`: answer 451 and let the client retry). Some
//! are not: the engine's own thread died, or the storage under it is gone for good. A store
//! that answered "unavailable" forever after those would look alive to a supervisor that
//! could restart it. So the engine raises a [`FatalAlarm`] once, and `mailroom::run`, which
//! watches the matching [`FatalWatch`], stops the server with the cause and a non-zero exit.
//!
//! Engine-neutral: what counts as fatal is each engine's call (see `sqlite::health`).

use std::sync::Arc;

use tokio::sync::watch;

/// Why the store cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fatal {
    /// The engine's own code failed: a thread it needs panicked or ended.
    #[error("{0}")]
    Software(String),
    /// The storage under the engine failed for good: its files removed or replaced, or
    /// I/O errors that persisted over several attempts.
    #[error("{0}")]
    Io(String),
}

/// The engine's side: raise the alarm. The first cause raised is the one reported.
#[derive(Clone)]
pub struct FatalAlarm(Arc<watch::Sender<Option<Fatal>>>);

/// The server's side: wait for the alarm.
#[derive(Clone)]
pub struct FatalWatch(watch::Receiver<Option<Fatal>>);

/// A new alarm and its watch.
pub fn fatal_channel() -> (FatalAlarm, FatalWatch) {
    let (tx, rx) = watch::channel(None);
    (FatalAlarm(Arc::new(tx)), FatalWatch(rx))
}

impl FatalAlarm {
    /// Report `fatal`, unless a cause was reported already. The watcher logs it.
    pub fn raise(&self, fatal: Fatal) {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(fatal);
            true
        });
    }

    /// Run `body` (a thread's whole work) and raise the alarm if it panics: a thread that
    /// unwinds takes with it whatever it served, so its callers would wait on nothing.
    pub fn watch_thread<T>(&self, thread: &str, body: impl FnOnce() -> T) -> Option<T> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(value) => Some(value),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                self.raise(Fatal::Software(format!("{thread} panicked: {message}")));
                None
            }
        }
    }
}

impl FatalWatch {
    /// A watch that never fires, for engines that have no fatal failures to report.
    pub fn never() -> Self {
        fatal_channel().1
    }

    /// The cause, once the alarm is raised (at once if it was already). Never resolves if
    /// the engine is gone without raising it, which happens only when the store is closed.
    pub async fn failed(&mut self) -> Fatal {
        loop {
            if let Some(fatal) = self.0.borrow_and_update().clone() {
                return fatal;
            }
            if self.0.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// The cause, if the alarm has been raised.
    pub fn cause(&self) -> Option<Fatal> {
        self.0.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_thread_raises_the_alarm_with_its_message() {
        let (alarm, watch) = fatal_channel();
        let thread_alarm = alarm.clone();
        let joined = std::thread::spawn(move || {
            thread_alarm.watch_thread("the test writer", || -> u32 { panic!("disk on fire") })
        })
        .join()
        .expect("the panic is caught inside the thread");
        assert_eq!(joined, None);
        assert_eq!(
            watch.cause(),
            Some(Fatal::Software(
                "the test writer panicked: disk on fire".into()
            ))
        );
    }

    #[test]
    fn a_thread_that_returns_raises_nothing() {
        let (alarm, watch) = fatal_channel();
        assert_eq!(alarm.watch_thread("a worker", || 7), Some(7));
        assert_eq!(watch.cause(), None);
    }

    #[test]
    fn the_first_cause_is_the_one_reported() {
        let (alarm, watch) = fatal_channel();
        alarm.raise(Fatal::Io("first".into()));
        alarm.raise(Fatal::Software("second".into()));
        assert_eq!(watch.cause(), Some(Fatal::Io("first".into())));
    }

    #[actix_rt::test]
    async fn the_watch_wakes_when_the_alarm_is_raised() {
        let (alarm, mut watch) = fatal_channel();
        let raised = std::thread::spawn(move || alarm.raise(Fatal::Io("gone".into())));
        let fatal = tokio::time::timeout(std::time::Duration::from_secs(5), watch.failed())
            .await
            .expect("woken");
        assert_eq!(fatal, Fatal::Io("gone".into()));
        raised.join().expect("raised");
    }

    #[actix_rt::test]
    async fn a_dropped_alarm_is_not_a_failure() {
        let (alarm, mut watch) = fatal_channel();
        drop(alarm);
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), watch.failed()).await;
        assert!(
            waited.is_err(),
            "an engine closed without failing stays quiet"
        );
    }
}
