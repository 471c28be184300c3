//! What every admin handler reaches: the store (its actor, and its management requests),
//! the configuration watcher, the connection tracker, the greylist, the webhook targets, and
//! the panel's sign-ins.

use crate::control::ControlSecret;
use crate::sessions::LoginSessions;
use crate::webhooks::Webhooks;
use actix::{Addr, Recipient};
use mailroom_shared::msg::EditGreylist;
use mailroom_shared::net::ConnectionTracker;
use mailroom_shared::reload::{ConfigWatcher, Current};
use mailroom_shared::snapshot::Snapshot;
use mailroom_store::{MailboxStore, StoreAdmin};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The parts of the running server the admin server is given by `main`.
#[derive(Clone)]
pub struct AdminDeps {
    /// Reloads and the configuration in force.
    pub watcher: Addr<ConfigWatcher>,
    /// Mailbox data, the queue, logins.
    pub store: Addr<MailboxStore>,
    /// Open connections of every listener.
    pub tracker: ConnectionTracker,
    /// The greylist, which holds its entries (delete, whitelist).
    pub greylist: Recipient<EditGreylist>,
    /// The webhook targets and their last deliveries.
    pub webhooks: Addr<Webhooks>,
}

/// Shared by every request (behind `web::Data`).
pub(crate) struct AdminContext {
    pub watcher: Addr<ConfigWatcher>,
    pub store: Addr<MailboxStore>,
    pub tracker: ConnectionTracker,
    pub greylist: Recipient<EditGreylist>,
    pub webhooks: Addr<Webhooks>,
    /// Domains, accounts, aliases, tokens: the store's management requests, through the
    /// same actor (and write path) as `store`.
    pub db: StoreAdmin,
    /// Panel sign-ins.
    pub logins: LoginSessions,
    /// When the server started, for the uptime.
    pub started: Instant,
    /// The same, on the wall clock.
    pub started_at: SystemTime,
    /// The command line's credential on the control listener ([`crate::control`]).
    pub control: ControlSecret,
}

impl AdminContext {
    pub(crate) fn new(deps: AdminDeps, control: ControlSecret) -> Self {
        let db = StoreAdmin::new(deps.store.clone());
        Self {
            watcher: deps.watcher,
            store: deps.store,
            tracker: deps.tracker,
            greylist: deps.greylist,
            webhooks: deps.webhooks,
            db,
            logins: LoginSessions::default(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            control,
        }
    }

    /// The configuration in force (`None` only while the server shuts down).
    pub(crate) async fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.watcher.send(Current).await.ok()
    }
}
