//! Routes `MailboxChanged` events from the bus to the IMAP connections of the account they
//! concern: one bus subscriber for the whole protocol, a map from account to the channels of
//! its logged-in connections. An event then costs one actor message plus one channel send
//! per connection of that account, however many other sessions are open (10,000 idling
//! clients must not each hear of every delivery on the server).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use actix::prelude::*;
use mailroom_shared::bus::Bus;
use mailroom_shared::msg::MailboxChanged;
use tokio::sync::mpsc::UnboundedSender;

type Channels = HashMap<i64, Vec<(u64, UnboundedSender<MailboxChanged>)>>;

/// The connections that want to hear of each account's changes; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Watchers {
    channels: Arc<Mutex<Channels>>,
    next: Arc<AtomicU64>,
}

impl Watchers {
    /// Hear of `account_id`'s changes on `tx` until the guard is dropped.
    pub(crate) fn watch(&self, account_id: i64, tx: UnboundedSender<MailboxChanged>) -> Watching {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.entry(account_id).or_default().push((key, tx));
        Watching {
            watchers: self.clone(),
            account_id,
            key,
        }
    }

    fn dispatch(&self, event: &MailboxChanged) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, tx) in channels.get(&event.account_id).into_iter().flatten() {
            // A closed channel belongs to a connection whose guard is about to go.
            let _ = tx.send(event.clone());
        }
    }

    fn unwatch(&self, account_id: i64, key: u64) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = channels.get_mut(&account_id) {
            list.retain(|(k, _)| *k != key);
            if list.is_empty() {
                channels.remove(&account_id);
            }
        }
    }

    /// Start the one bus subscriber that feeds these watchers. The returned address keeps it
    /// alive (the bus holds only a weak reference).
    pub(crate) fn subscribe(&self, bus: &Bus) -> Addr<ChangeRouter> {
        let router = ChangeRouter {
            watchers: self.clone(),
        }
        .start();
        bus.subscribe(router.clone().recipient::<MailboxChanged>());
        router
    }
}

/// A connection's registration; removed when dropped.
pub(crate) struct Watching {
    watchers: Watchers,
    account_id: i64,
    key: u64,
}

impl Watching {
    /// The account this registration hears of.
    pub(crate) fn account_id(&self) -> i64 {
        self.account_id
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.watchers.unwatch(self.account_id, self.key);
    }
}

/// The bus subscriber: hands each event to the watchers of its account.
pub(crate) struct ChangeRouter {
    watchers: Watchers,
}

impl Actor for ChangeRouter {
    type Context = actix::Context<Self>;
}

impl Handler<MailboxChanged> for ChangeRouter {
    type Result = ();
    fn handle(&mut self, event: MailboxChanged, _: &mut Self::Context) {
        self.watchers.dispatch(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailroom_shared::msg::MailboxChange;
    use tokio::sync::mpsc;

    fn event(account_id: i64) -> MailboxChanged {
        MailboxChanged {
            account_id,
            mailbox_id: 1,
            change: MailboxChange::Added,
            modseq: 2,
        }
    }

    #[test]
    fn events_reach_only_the_account_s_watchers_while_they_watch() {
        let w = Watchers::default();
        let (tx1, mut rx1) = mpsc::unbounded_channel();
        let (tx2, mut rx2) = mpsc::unbounded_channel();
        let a = w.watch(1, tx1);
        let _b = w.watch(2, tx2);
        w.dispatch(&event(1));
        assert_eq!(rx1.try_recv().map(|e| e.account_id), Ok(1));
        assert!(
            rx2.try_recv().is_err(),
            "account 2 heard account 1's change"
        );
        drop(a);
        w.dispatch(&event(1));
        assert!(rx1.try_recv().is_err(), "heard after unwatching");
        assert!(
            w.channels
                .lock()
                .map(|c| !c.contains_key(&1))
                .unwrap_or(false)
        );
    }
}
