//! The dashboard: uptime, version, config generation, queue, store size, sessions per protocol
//! and the 48-hour chart of mail per hour.

use super::chart;
use super::html::{bytes, esc, page};
use super::{failed, html, notice, signed_in};
use crate::api::system;
use crate::context::AdminContext;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::HashMap;

pub(super) async fn dashboard(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let stats = match system::gather(&ctx).await {
        Ok(s) => s,
        Err(e) => {
            return failed("Dashboard", Some((&caller.account.address, &csrf)), e, "");
        }
    };
    let mut per_protocol: HashMap<String, usize> = HashMap::new();
    for s in ctx.tracker.list() {
        *per_protocol.entry(s.kind.to_string()).or_default() += 1;
    }
    let mut sessions: Vec<String> = per_protocol
        .iter()
        .map(|(k, n)| format!("{} {n}", esc(k)))
        .collect();
    sessions.sort();
    let card = |label: &str, value: String| {
        format!("<div class=\"card\">{}<b>{value}</b></div>", esc(label))
    };
    let body = format!(
        "<div class=\"cards\">{}{}{}{}{}{}{}{}</div><h2>Last 48 hours</h2>{}",
        card("Uptime", esc(&uptime(stats.uptime_secs))),
        card("Version", esc(stats.version)),
        card("Config generation", stats.config_generation.to_string()),
        card(
            "Queue",
            format!("{} queued, {} held", stats.queue.queued, stats.queue.held)
        ),
        card(
            "Store",
            format!(
                "{} db, {} mail",
                bytes(stats.store.database_bytes),
                bytes(stats.store.message_bytes)
            )
        ),
        card("Connections", stats.connections_open.to_string()),
        card(
            "Sessions",
            if sessions.is_empty() {
                "none".into()
            } else {
                sessions.join(", ")
            }
        ),
        card(
            "Domains / accounts",
            format!("{} / {}", stats.domains, stats.accounts)
        ),
        chart::svg(&stats.hourly),
    );
    html(
        StatusCode::OK,
        page(
            "Dashboard",
            Some((&caller.account.address, &csrf)),
            notice(&req).as_ref(),
            &body,
        ),
    )
}

fn uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {}s", secs % 60)
    }
}
