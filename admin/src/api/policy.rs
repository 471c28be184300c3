//! `/api/v1/policy/*`: what the inbound policy did — recent rejections and why, spam
//! decisions with the rules that fired, greylist entries (as last saved by the greylist),
//! and an admin's delete or whitelist of one entry (carried out by the greylist actor, which
//! holds the entries).

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_config::Network;
use mailroom_shared::msg::{EditGreylist, GreylistAction};
use serde::{Deserialize, Serialize};

/// Most rows one request returns.
const MAX_ROWS: u32 = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    /// How many, newest first (default 100, at most 500).
    limit: Option<String>,
    /// Greylist only: part of the network, sender or recipient.
    q: Option<String>,
}

impl Page {
    fn limit(&self) -> Result<u32, ApiError> {
        let n = super::limit(self.limit.as_deref(), 100, MAX_ROWS as usize)?;
        // At most MAX_ROWS, so it fits.
        Ok(u32::try_from(n).unwrap_or(MAX_ROWS))
    }
}

pub(crate) async fn rejections(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let rows = ctx.db.recent_events("rejected", limit).await?;
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
    let rows = ctx.db.spam_decisions(limit).await?;
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
    let rows = ctx.db.greylist_entries(&q, limit).await?;
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

/// Longest address accepted in a greylist key (RFC 5321 §4.5.3.1.3: a path is at most 256
/// octets; leave room for a lowercase copy of a longer one the greylist saw).
const MAX_ADDRESS: usize = 320;

/// One greylist entry, as listed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GreylistKey {
    /// The client network (`192.0.2.0/24`); an address in it is taken as its network.
    pub(crate) net: String,
    /// The reverse-path; empty for `<>`.
    pub(crate) sender: String,
    /// The recipient.
    pub(crate) recipient: String,
}

impl GreylistKey {
    /// The key as the greylist stores it, or why it cannot be one.
    pub(crate) fn checked(self) -> Result<Self, ApiError> {
        let net = Network::parse(self.net.trim())
            .map_err(|e| ApiError::bad_request(format!("net: {e}")))?
            .to_string();
        let recipient = self.recipient.trim().to_lowercase();
        if recipient.is_empty() || !recipient.contains('@') {
            return Err(ApiError::bad_request("recipient: an address is needed"));
        }
        let sender = self.sender.trim().to_lowercase();
        if recipient.len() > MAX_ADDRESS || sender.len() > MAX_ADDRESS {
            return Err(ApiError::bad_request(format!(
                "sender and recipient are at most {MAX_ADDRESS} octets"
            )));
        }
        Ok(Self {
            net,
            sender,
            recipient,
        })
    }
}

/// `delete` or `whitelist`.
pub(crate) fn greylist_action(name: &str) -> Result<GreylistAction, ApiError> {
    match name {
        "delete" => Ok(GreylistAction::Delete),
        "whitelist" => Ok(GreylistAction::Whitelist),
        other => Err(ApiError::not_found(format!(
            "no greylist action {other:?}; there are delete and whitelist"
        ))),
    }
}

/// Carry out `action` on the entry `key` (already checked).
pub(crate) async fn edit_greylist(
    ctx: &AdminContext,
    key: &GreylistKey,
    action: GreylistAction,
) -> Result<(), ApiError> {
    let edit = EditGreylist {
        net: key.net.clone(),
        sender: key.sender.clone(),
        recipient: key.recipient.clone(),
        action,
    };
    match ctx.greylist.send(edit).await {
        Ok(Ok(true)) => {
            tracing::info!(net = %key.net, ?action, "greylist entry changed in the admin panel");
            Ok(())
        }
        Ok(Ok(false)) => Err(ApiError::not_found("no such greylist entry")),
        Ok(Err(e)) => Err(ApiError::unavailable(format!("the store failed: {e}"))),
        Err(_) => Err(ApiError::unavailable("the greylist is not running")),
    }
}

pub(crate) async fn greylist_edit(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    action: web::Path<String>,
    body: web::Json<GreylistKey>,
) -> Result<HttpResponse, ApiError> {
    let action = greylist_action(&action)?;
    let key = body.into_inner().checked()?;
    edit_greylist(&ctx, &key, action).await?;
    Ok(HttpResponse::Ok().json(key))
}
