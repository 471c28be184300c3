//! Plugs POP3 sessions into the shared listener machinery.

use crate::proto;
use crate::session::Session;
use mailroom_shared::net::{Connection, Protocol, Refusal, lines};

/// The POP3 protocol, for the `pop3` and `pop3s` listeners.
pub struct Pop3;

impl Protocol for Pop3 {
    fn start(&self, conn: Connection) {
        let session = Session::new(conn.snapshot.config.server.hostname.clone());
        actix_rt::spawn(lines::drive(conn, session));
    }

    fn refusal(&self, hostname: &str, why: Refusal) -> Vec<u8> {
        match why {
            Refusal::ShuttingDown => proto::err(&format!("{hostname} shutting down")),
            Refusal::TooManyConnections | Refusal::TooManyFromIp => {
                proto::err("[IN-USE] too many connections, try again later")
            }
        }
    }
}
