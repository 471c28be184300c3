//! `AdminServer`: runs the actix-web server on the `admin` listener addresses and moves it
//! when a reload changes them (the new server starts first; the old one stops gracefully only
//! once the new one listens).

use crate::health;
use actix::prelude::*;
use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use mailroom_shared::bus::Bus;
use mailroom_shared::msg::ConfigChanged;
use mailroom_shared::reload::ConfigWatcher;
use mailroom_shared::snapshot::Snapshot;
use std::net::SocketAddr;

/// The admin HTTP server actor; one per process.
pub struct AdminServer {
    watcher: Addr<ConfigWatcher>,
    addrs: Vec<SocketAddr>,
    handle: Option<ServerHandle>,
}

fn admin_addrs(snapshot: &Snapshot) -> Vec<SocketAddr> {
    snapshot
        .config
        .listeners
        .admin
        .as_ref()
        .map(|a| a.socket_addrs())
        .unwrap_or_default()
}

impl AdminServer {
    /// Bind the admin listener of `snapshot` (if any) and start serving; follows reloads
    /// published on `bus`.
    pub fn start(
        snapshot: &Snapshot,
        watcher: Addr<ConfigWatcher>,
        bus: &Bus,
    ) -> std::io::Result<Addr<Self>> {
        let addrs = admin_addrs(snapshot);
        let handle = serve(&addrs, watcher.clone())?;
        let addr = Self {
            watcher,
            addrs,
            handle,
        }
        .start();
        bus.subscribe::<ConfigChanged>(addr.clone().recipient());
        Ok(addr)
    }
}

fn serve(
    addrs: &[SocketAddr],
    watcher: Addr<ConfigWatcher>,
) -> std::io::Result<Option<ServerHandle>> {
    if addrs.is_empty() {
        return Ok(None);
    }
    let data = web::Data::new(watcher);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(health::healthz))
    })
    .workers(1)
    // Signals belong to main, which drains every listener in order.
    .disable_signals()
    .shutdown_timeout(5);
    for addr in addrs {
        server = server.bind(addr)?;
        tracing::info!(listener = "admin", %addr, "listening");
    }
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(Some(handle))
}

impl Actor for AdminServer {
    type Context = Context<Self>;
}

impl Handler<ConfigChanged> for AdminServer {
    type Result = ();
    fn handle(&mut self, msg: ConfigChanged, _: &mut Context<Self>) {
        let addrs = admin_addrs(&msg.0);
        if addrs == self.addrs {
            return;
        }
        match serve(&addrs, self.watcher.clone()) {
            Ok(handle) => {
                if let Some(old) = std::mem::replace(&mut self.handle, handle) {
                    actix_rt::spawn(async move { old.stop(true).await });
                }
                self.addrs = addrs;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot move the admin listener; it stays where it was");
            }
        }
    }
}

/// Stop serving, letting requests in flight finish. Sent by `main` at shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAdmin;

impl Handler<StopAdmin> for AdminServer {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _: StopAdmin, _: &mut Context<Self>) -> Self::Result {
        let handle = self.handle.take();
        Box::pin(async move {
            if let Some(handle) = handle {
                handle.stop(true).await;
            }
        })
    }
}
