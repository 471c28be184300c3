//! `GET /healthz`: whether the server is up, and which configuration it runs.

use actix::Addr;
use actix_web::{HttpResponse, web};
use mailroom_shared::reload::{ConfigWatcher, Current};
use serde::Serialize;

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
    hostname: &'a str,
    config_generation: u64,
}

pub(crate) async fn healthz(watcher: web::Data<Addr<ConfigWatcher>>) -> HttpResponse {
    match watcher.send(Current).await {
        Ok(snapshot) => HttpResponse::Ok().json(Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
            hostname: &snapshot.config.server.hostname,
            config_generation: snapshot.generation,
        }),
        Err(_) => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "unavailable",
            "version": env!("CARGO_PKG_VERSION"),
        })),
    }
}
