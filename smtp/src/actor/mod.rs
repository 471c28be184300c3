//! Plugs SMTP sessions into the shared listener machinery: one session per connection, run
//! on the arbiter the listener picked.

use crate::proto::reply;
use crate::session::Session;
use mailroom_shared::net::{Connection, Protocol, Refusal, lines};

/// The SMTP protocol, for the `smtp`, `submission` and `submissions` listeners.
pub struct Smtp;

impl Protocol for Smtp {
    fn start(&self, conn: Connection) {
        let session = Session::new(conn.snapshot.config.server.hostname.clone());
        actix_rt::spawn(lines::drive(conn, session));
    }

    fn refusal(&self, hostname: &str, why: Refusal) -> Vec<u8> {
        match why {
            Refusal::ShuttingDown => reply::shutting_down(hostname),
            Refusal::TooManyConnections | Refusal::TooManyFromIp => reply::too_many(hostname),
        }
    }
}
