//! Plugs IMAP sessions into the shared listener machinery.

use crate::proto;
use crate::session::Session;
use mailroom_shared::net::{Connection, Protocol, Refusal, lines};

/// The IMAP protocol, for the `imap` and `imaps` listeners.
pub struct Imap;

impl Protocol for Imap {
    fn start(&self, conn: Connection) {
        let session = Session::new(conn.snapshot.config.server.hostname.clone());
        actix_rt::spawn(lines::drive(conn, session));
    }

    fn refusal(&self, hostname: &str, why: Refusal) -> Vec<u8> {
        match why {
            Refusal::ShuttingDown => proto::bye(&format!("{hostname} shutting down")),
            Refusal::TooManyConnections | Refusal::TooManyFromIp => {
                proto::bye(&format!("{hostname} too many connections, try again later"))
            }
        }
    }
}
