//! `/api/v1/policy/*`: what the inbound policy did — recent rejections and why, spam
//! decisions with the rules that fired, greylist entries (as last saved by the greylist).

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

/// Most rows one request returns.
const MAX_ROWS: u32 = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    /// How many, newest first (default 100, at most 500).
    limit: Option<u32>,
    /// Greylist only: part of the network, sender or recipient.
    q: Option<String>,
}

impl Page {
    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n) if (1..=MAX_ROWS).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit must be 1 to {MAX_ROWS}, not {n}"
            ))),
        }
    }
}

pub(crate) async fn rejections(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let rows = ctx
        .db
        .run(move |db| db.recent_events("rejected", limit))
        .await?;
    let out: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(id, at, body)| {
            let event = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
            serde_json::json!({ "id": id, "at": at, "event": event })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

pub(crate) async fn spam(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let rows = ctx.db.run(move |db| db.spam_decisions(limit)).await?;
    let out: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|d| {
            let rules = serde_json::from_str(&d.rules_json)
                .unwrap_or(serde_json::Value::String(d.rules_json));
            serde_json::json!({ "account": d.account, "score": d.score, "action": d.action,
                "rules": rules, "at": d.at })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

pub(crate) async fn greylist(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let q = page.q.clone().unwrap_or_default();
    let rows = ctx.db.run(move |db| db.greylist_entries(&q, limit)).await?;
    let out: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|g| {
            serde_json::json!({ "net": g.net, "sender": g.sender, "recipient": g.recipient,
                "first_seen": g.first_seen, "last_seen": g.last_seen, "passed_at": g.passed_at,
                "count": g.count })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}
