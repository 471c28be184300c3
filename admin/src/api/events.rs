//! `GET /api/v1/events`: the store's event log (what webhooks are sent), oldest first, read
//! through the `MailboxStore` actor. An admin or a script pages through it with `after`, the
//! id of the last event it has, and may ask for one `type` only.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_shared::events::{EventKind, EventRecorded};
use mailroom_store::actor::ReadEvents;
use serde::Deserialize;

/// Events returned when the request does not say.
const DEFAULT_LIMIT: usize = 100;
/// Most events one request returns.
const MAX_LIMIT: usize = 1000;
/// Events read from the store at a time while filtering by type.
const PAGE: u32 = 500;

/// `GET /events` query; all optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    /// Only events with ids above this (default 0: from the start of the log).
    after: Option<String>,
    /// How many at most (default 100, at most 1000).
    limit: Option<String>,
    /// Only events of this type (`delivered`, `greylisted`, …).
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn kind(text: &str) -> Result<EventKind, ApiError> {
    EventKind::ALL
        .into_iter()
        .find(|k| k.as_str() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::bad_request(format!(
                "type must be one of {}, not {text:?}",
                names.join(", ")
            ))
        })
}

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let limit = super::limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let mut after = match query.after.as_deref() {
        None => 0,
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "after must be an event id (0 or more), not {raw:?}"
                ))
            })?,
    };
    let wanted = query.kind.as_deref().map(kind).transpose()?;
    let mut out: Vec<EventRecorded> = Vec::new();
    // Without a type one read is enough; with one, read on until enough match or the log ends.
    while out.len() < limit {
        let page = ctx
            .store
            .send(ReadEvents { after, limit: PAGE })
            .await
            .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))??;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        let full = page.len() == PAGE as usize;
        out.extend(
            page.into_iter()
                .filter(|e| wanted.is_none_or(|k| e.data.kind() == k)),
        );
        if !full {
            break;
        }
    }
    out.truncate(limit);
    Ok(HttpResponse::Ok().json(out))
}
