//! Plugs SMTP sessions into the shared listener machinery: one session per connection, run
//! by the connection driver on the arbiter the listener picked.

mod connection;
mod send_rate;
mod submission;

pub use send_rate::SendRate;

use crate::policy::greylist::Greylist;
use crate::policy::spam::SpamScorer;
use crate::proto::reply;
use actix::Addr;
use mailroom_shared::net::{Connection, Protocol, Refusal};
use mailroom_store::MailboxStore;

/// The policy actors SMTP sessions ask while the client waits.
#[derive(Clone)]
pub struct Policy {
    /// Asked about MX recipients when greylisting is on.
    pub greylist: Addr<Greylist>,
    /// Asked to score MX mail when spam scoring is on.
    pub spam: Addr<SpamScorer>,
    /// Messages each account submitted lately (the submission rate limit).
    pub send_rate: SendRate,
    /// Parsed DKIM keys, for signing submitted mail.
    pub dkim: std::sync::Arc<crate::dkim::DkimSigners>,
}

/// The SMTP protocol, for the `smtp` (MX), `submission` and `submissions` listeners.
pub struct Smtp {
    store: Addr<MailboxStore>,
    policy: Policy,
}

impl Smtp {
    /// SMTP delivering into `store`, asking `policy` on the MX listener.
    pub fn new(store: Addr<MailboxStore>, policy: Policy) -> Self {
        Self { store, policy }
    }
}

impl Protocol for Smtp {
    fn start(&self, conn: Connection) {
        actix_rt::spawn(connection::run(
            conn,
            self.store.clone(),
            self.policy.clone(),
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
