//! `AdminServer`: runs the actix-web server on the `admin` listener addresses and moves it
//! when a reload changes them (the new server starts first; the old one stops gracefully only
//! once the new one listens). `ConfigWatcher` asks for the move as part of the reload, so a
//! failure here refuses the whole reload.
//!
//! The command line of the same host reaches the JSON API through the admin listener when it
//! listens on loopback without TLS (the usual case), else through a control listener of its
//! own on a free loopback port ([`crate::control`]).

use crate::context::{AdminContext, AdminDeps};
use crate::control::{ControlAccess, ControlOnly, ControlSecret};
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
    /// The control listener's server, when the admin listener cannot serve the command line.
    control: Option<ServerHandle>,
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
    /// Bind the admin listener of `snapshot` (if any) and, if the command line cannot use it,
    /// the control listener; start serving, and join the watcher's reloads. Also returns how
    /// the command line reaches the server.
    pub fn start(
        snapshot: &Snapshot,
        deps: AdminDeps,
    ) -> std::io::Result<(Addr<Self>, ControlAccess)> {
        let watcher = deps.watcher.clone();
        let control = ControlSecret::generate()
            .ok_or_else(|| std::io::Error::other("no randomness for the control secret"))?;
        let secret = control.secret().clone();
        let context = web::Data::new(AdminContext::new(deps, control));
        let addrs = admin_addrs(snapshot);
        let handle = serve(&addrs, snapshot, watcher.clone(), context.clone())?;
        let tls = snapshot.config.admin.tls;
        let (control, control_addr) = match addrs.iter().find_map(|a| loopback_of(*a, tls)) {
            // No port of our own: one bound at random could be one a neighbour was about to
            // bind (the test harness hands out free ports that way).
            Some(addr) => (None, addr),
            None => {
                let (handle, addr) = serve_control(context.clone())?;
                (Some(handle), addr)
            }
        };
        let addr = Self {
            watcher: watcher.clone(),
            context,
            addrs,
            handle,
            control,
        }
        .start();
        watcher.do_send(AttachHttp(addr.clone().recipient()));
        let access = ControlAccess {
            addr: control_addr,
            secret,
        };
        Ok((addr, access))
    }
}

/// Where the command line reaches the admin listener bound at `addr`: itself if it is a
/// loopback address, the same port on loopback if it is the wildcard; `None` if it is another
/// host's address or speaks TLS (the command line speaks plain HTTP, on loopback only).
fn loopback_of(addr: SocketAddr, tls: bool) -> Option<SocketAddr> {
    if tls {
        return None;
    }
    let ip = addr.ip();
    if ip.is_loopback() {
        Some(addr)
    } else if ip.is_unspecified() {
        let local = match ip {
            std::net::IpAddr::V4(_) => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            std::net::IpAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        Some(SocketAddr::new(local, addr.port()))
    } else {
        None
    }
}

/// The control listener: the JSON API alone, plain HTTP on a free loopback port.
fn serve_control(context: web::Data<AdminContext>) -> std::io::Result<(ServerHandle, SocketAddr)> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(ControlOnly)
            .app_data(context.clone())
            .configure(api::routes)
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(listener = "control", %addr, "listening");
    Ok((handle, addr))
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
        let handles = [self.handle.take(), self.control.take()];
        Box::pin(async move {
            for handle in handles.into_iter().flatten() {
                handle.stop(true).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::loopback_of;

    #[test]
    fn the_command_line_uses_a_plain_admin_listener_it_can_reach_on_loopback() {
        let at = |s: &str| s.parse().expect("addr");
        assert_eq!(
            loopback_of(at("127.0.0.1:8080"), false),
            Some(at("127.0.0.1:8080"))
        );
        assert_eq!(
            loopback_of(at("0.0.0.0:8080"), false),
            Some(at("127.0.0.1:8080"))
        );
        assert_eq!(loopback_of(at("[::]:8080"), false), Some(at("[::1]:8080")));
        assert_eq!(loopback_of(at("[::1]:8080"), false), Some(at("[::1]:8080")));
        assert_eq!(loopback_of(at("192.0.2.7:8080"), false), None);
        assert_eq!(loopback_of(at("127.0.0.1:8443"), true), None, "TLS");
    }
}
