//! Plugs IMAP sessions into the shared listener machinery: one session per connection, run
//! by the connection driver on the arbiter the listener picked.

mod connection;
mod literal;
mod watchers;

use actix::Addr;
use mailroom_shared::bus::Bus;
use mailroom_shared::net::{AccountSessions, Connection, Protocol, Refusal};
use mailroom_store::MailboxStore;
use watchers::{ChangeRouter, Watchers};

use crate::proto::write;

/// The IMAP protocol, for the `imap` and `imaps` listeners.
pub struct Imap {
    store: Addr<MailboxStore>,
    watchers: Watchers,
    _router: Addr<ChangeRouter>,
    sessions: AccountSessions,
}

impl Imap {
    /// IMAP over `store`, hearing of mailbox changes on `bus`. Must run inside an actix
    /// System (it starts the actor that routes those changes).
    pub fn new(store: Addr<MailboxStore>, bus: Bus) -> Self {
        let watchers = Watchers::default();
        let router = watchers.subscribe(&bus);
        Self {
            store,
            watchers,
            _router: router,
            sessions: AccountSessions::default(),
        }
    }
}

impl Protocol for Imap {
    fn start(&self, conn: Connection) {
        let (store, watchers) = (self.store.clone(), self.watchers.clone());
        actix_rt::spawn(connection::run(
            conn,
            store,
            watchers,
            self.sessions.clone(),
        ));
    }

    fn refusal(&self, hostname: &str, why: Refusal) -> Vec<u8> {
        let mut out = Vec::new();
        match why {
            Refusal::ShuttingDown => write::bye(&mut out, &format!("{hostname} shutting down")),
            Refusal::TooManyConnections | Refusal::TooManyFromIp => write::bye(
                &mut out,
                &format!("{hostname} too many connections, try again later"),
            ),
        }
        out
    }
}
