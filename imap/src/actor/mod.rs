//! Plugs IMAP sessions into the shared listener machinery: one session per connection, run
//! by the connection driver on the arbiter the listener picked.

mod connection;

use actix::Addr;
use mailroom_shared::bus::Bus;
use mailroom_shared::net::{AccountSessions, Connection, Protocol, Refusal};
use mailroom_store::MailboxStore;

use crate::proto::write;

/// The IMAP protocol, for the `imap` and `imaps` listeners.
pub struct Imap {
    store: Addr<MailboxStore>,
    bus: Bus,
    sessions: AccountSessions,
}

impl Imap {
    /// IMAP over `store`, hearing of mailbox changes on `bus`.
    pub fn new(store: Addr<MailboxStore>, bus: Bus) -> Self {
        Self {
            store,
            bus,
            sessions: AccountSessions::default(),
        }
    }
}

impl Protocol for Imap {
    fn start(&self, conn: Connection) {
        let (store, bus) = (self.store.clone(), self.bus.clone());
        actix_rt::spawn(connection::run(conn, store, bus, self.sessions.clone()));
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
