//! Plugs POP3 sessions into the shared listener machinery: one session per connection, run
//! by the connection driver on the arbiter the listener picked. The one [`Maildrops`]
//! registry lives here, shared by every POP3 session of the process.

mod connection;

use actix::Addr;
use mailroom_shared::net::{Connection, Protocol, Refusal};
use mailroom_store::MailboxStore;

use crate::proto::reply;
use crate::session::Maildrops;

/// The POP3 protocol, for the `pop3` and `pop3s` listeners.
pub struct Pop3 {
    store: Addr<MailboxStore>,
    maildrops: Maildrops,
}

impl Pop3 {
    /// POP3 over `store`.
    pub fn new(store: Addr<MailboxStore>) -> Self {
        Self {
            store,
            maildrops: Maildrops::default(),
        }
    }
}

impl Protocol for Pop3 {
    fn start(&self, conn: Connection) {
        actix_rt::spawn(connection::run(
            conn,
            self.store.clone(),
            self.maildrops.clone(),
        ));
    }

    fn refusal(&self, hostname: &str, why: Refusal) -> Vec<u8> {
        match why {
            Refusal::ShuttingDown => reply::err(&format!("{hostname} shutting down")),
            Refusal::TooManyConnections | Refusal::TooManyFromIp => {
                reply::err_code(reply::IN_USE, "too many connections, try again later")
            }
        }
    }
}
