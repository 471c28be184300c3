//! `AdminServer`: runs the actix-web server on the `admin` listener addresses and moves it
//! when a reload changes them (the new server starts first; the old one stops gracefully only
//! once the new one listens). `ConfigWatcher` asks for the move as part of the reload, so a
//! failure here refuses the whole reload.

use crate::context::{AdminContext, AdminDeps};
use crate::{api, autoconfig, health, mta_sts};
use actix::prelude::*;
use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use mailroom_shared::msg::RebindHttp;
use mailroom_shared::reload::{AttachHttp, ConfigWatcher};
use mailroom_shared::snapshot::Snapshot;
use std::net::SocketAddr;

/// The admin HTTP server actor; one per process.
pub struct AdminServer {
    watcher: Addr<ConfigWatcher>,
    context: web::Data<AdminContext>,
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
    /// Bind the admin listener of `snapshot` (if any), start serving, and join the
    /// watcher's reloads.
    pub fn start(snapshot: &Snapshot, deps: AdminDeps) -> std::io::Result<Addr<Self>> {
        let watcher = deps.watcher.clone();
        let context = web::Data::new(AdminContext::new(deps));
        let addrs = admin_addrs(snapshot);
        let handle = serve(&addrs, snapshot, watcher.clone(), context.clone())?;
        let addr = Self {
            watcher: watcher.clone(),
            context,
            addrs,
            handle,
        }
        .start();
        watcher.do_send(AttachHttp(addr.clone().recipient()));
        Ok(addr)
    }
}

fn serve(
    addrs: &[SocketAddr],
    snapshot: &Snapshot,
    watcher: Addr<ConfigWatcher>,
    context: web::Data<AdminContext>,
) -> std::io::Result<Option<ServerHandle>> {
    if addrs.is_empty() {
        return Ok(None);
    }
    let data = web::Data::new(watcher);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(context.clone())
            .wrap(security_headers())
            .route("/healthz", web::get().to(health::healthz))
            .configure(api::routes)
            .configure(autoconfig::routes)
            .configure(mta_sts::routes)
            .configure(crate::pages::routes)
            .route("/metrics", web::get().to(crate::metrics::metrics))
    })
    .workers(1)
    // Signals belong to main, which drains every listener in order.
    .disable_signals()
    .shutdown_timeout(5);
    let tls = snapshot
        .config
        .admin
        .tls
        .then(|| snapshot.tls.config().as_ref().clone());
    for addr in addrs {
        server = match &tls {
            Some(config) => server.bind_rustls_0_23(addr, config.clone())?,
            None => server.bind(addr)?,
        };
        tracing::info!(listener = "admin", %addr, tls = tls.is_some(), "listening");
    }
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(Some(handle))
}

/// Headers on every answer: no framing (clickjacking), no sniffing, no referrer leaks, and a
/// content policy that allows only this origin (the panel uses no CDN).
fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ))
}

impl Actor for AdminServer {
    type Context = Context<Self>;
}

impl Handler<RebindHttp> for AdminServer {
    type Result = Result<(), String>;
    fn handle(&mut self, msg: RebindHttp, _: &mut Context<Self>) -> Self::Result {
        let addrs = admin_addrs(&msg.0);
        if addrs == self.addrs {
            return Ok(());
        }
        let handle =
            serve(&addrs, &msg.0, self.watcher.clone(), self.context.clone()).map_err(|e| {
                let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                format!("listeners.admin: cannot listen on {}: {e}", list.join(", "))
            })?;
        if let Some(old) = std::mem::replace(&mut self.handle, handle) {
            actix_rt::spawn(async move { old.stop(true).await });
        }
        self.addrs = addrs;
        Ok(())
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
