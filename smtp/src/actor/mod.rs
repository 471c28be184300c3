//! Plugs SMTP sessions into the shared listener machinery: one session per connection, run
//! by the connection driver on the arbiter the listener picked.

mod connection;

use crate::policy::greylist::Greylist;
use crate::proto::reply;
use actix::Addr;
use mailroom_shared::net::{Connection, Protocol, Refusal};
use mailroom_store::MailboxStore;

/// The SMTP protocol, for the `smtp` (MX), `submission` and `submissions` listeners.
pub struct Smtp {
    store: Addr<MailboxStore>,
    greylist: Addr<Greylist>,
}

impl Smtp {
    /// SMTP delivering into `store`, asking `greylist` about MX recipients when greylisting
    /// is on.
    pub fn new(store: Addr<MailboxStore>, greylist: Addr<Greylist>) -> Self {
        Self { store, greylist }
    }
}

impl Protocol for Smtp {
    fn start(&self, conn: Connection) {
        actix_rt::spawn(connection::run(
            conn,
            self.store.clone(),
            self.greylist.clone(),
        ));
    }

    fn refusal(&self, hostname: &str, why: Refusal) -> Vec<u8> {
        match why {
            Refusal::ShuttingDown => reply::shutting_down(hostname),
            Refusal::TooManyConnections | Refusal::TooManyFromIp => {
                reply::too_many_connections(hostname)
            }
        }
        .to_bytes()
    }
}
