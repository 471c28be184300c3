//! More than one store over the same data: a restart of the store, and (PostgreSQL only)
//! a second node beside the first, as several mailroom processes share one database.

use std::time::Duration;

use actix::Addr;
use mailroom_shared::bus::Bus;
use mailroom_store::MailboxStore;
use mailroom_store::actor::Flush;

use crate::support::Harness;

impl Harness {
    /// Stop the store (everything acknowledged is committed) and open it again on the same
    /// data, as a server restart does.
    pub async fn restart(&mut self) {
        self.store
            .send(Flush)
            .await
            .expect("store mailbox")
            .expect("flush");
        // The embedded engine's writer releases its lock file once it has closed.
        for _ in 0..100 {
            match mailroom_store::start(&self.config, self.bus.clone()) {
                Ok(store) => {
                    self.admin = mailroom_store::StoreAdmin::new(store.clone());
                    self.store = store;
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        panic!("{}: the store did not reopen", self.engine);
    }

    /// Another node named `name` on the same database, or `None` for an engine that one
    /// process owns (the embedded one).
    pub fn other_node(&self, name: &str) -> Option<Addr<MailboxStore>> {
        if self.engine != "postgres" {
            return None;
        }
        let mut config = self.config.clone();
        config.cluster.node_name = Some(name.to_string());
        Some(mailroom_store::start(&config, Bus::start()).expect("open a second node"))
    }
}
