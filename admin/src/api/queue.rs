//! `/api/v1/queue`: the outbound queue (through the store, which owns it; the queue actor
//! notices a change at once).

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use mailroom_shared::queue::{QueueAdmin, QueueReply, QueueRequest, QueueRow};
use serde::Deserialize;

/// `GET /queue` filters; all optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Filter {
    /// `queued` or `held`.
    status: Option<String>,
    /// Part of the sender or recipient address (case-insensitive).
    q: Option<String>,
}

/// Ask the store.
pub(crate) async fn ask(ctx: &AdminContext, request: QueueRequest) -> Result<QueueReply, ApiError> {
    ctx.store
        .send(QueueAdmin(request))
        .await
        .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))
}

/// Every queued recipient row, filtered.
pub(crate) async fn rows(ctx: &AdminContext) -> Result<Vec<QueueRow>, ApiError> {
    match ask(ctx, QueueRequest::List).await? {
        QueueReply::Rows(rows) => Ok(rows),
        QueueReply::Changed(_) => Err(ApiError::unavailable(
            "the store answered a list with a count",
        )),
    }
}

/// Whether `row` passes `status` and `q`.
pub(crate) fn matches(row: &QueueRow, status: Option<&str>, q: Option<&str>) -> bool {
    let status_ok = status.is_none_or(|s| s.is_empty() || row.status == s);
    let q_ok = q.is_none_or(|q| {
        let q = q.to_lowercase();
        row.sender.to_lowercase().contains(&q) || row.recipient.to_lowercase().contains(&q)
    });
    status_ok && q_ok
}

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, ApiError> {
    if let Some(s) = filter.status.as_deref()
        && !matches!(s, "" | "queued" | "held")
    {
        return Err(ApiError::bad_request(format!(
            "status must be \"queued\" or \"held\", not {s:?}"
        )));
    }
    let rows: Vec<QueueRow> = rows(&ctx)
        .await?
        .into_iter()
        .filter(|r| matches(r, filter.status.as_deref(), filter.q.as_deref()))
        .collect();
    Ok(HttpResponse::Ok().json(rows))
}

pub(crate) async fn get(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let rows: Vec<QueueRow> = rows(&ctx)
        .await?
        .into_iter()
        .filter(|r| r.message_id == id)
        .collect();
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("queued message {id}")));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id, "recipients": rows })))
}

/// The change `action` (`retry`, `hold`, `release`, `delete`) names for message `id`.
pub(crate) fn action(id: i64, action: &str) -> Result<QueueRequest, ApiError> {
    match action {
        "retry" => Ok(QueueRequest::Retry(id)),
        "hold" => Ok(QueueRequest::Hold(id)),
        "release" => Ok(QueueRequest::Release(id)),
        "delete" => Ok(QueueRequest::Delete(id)),
        other => Err(ApiError::not_found(format!(
            "no queue action {other:?}: retry, hold, release or delete"
        ))),
    }
}

/// Run a change on message `id`: how many recipients changed, or 404 if none did.
pub(crate) async fn change(
    ctx: &AdminContext,
    id: i64,
    request: QueueRequest,
) -> Result<u64, ApiError> {
    match ask(ctx, request).await? {
        QueueReply::Changed(0) => Err(ApiError::not_found(format!(
            "queued message {id} (or nothing in it to change)"
        ))),
        QueueReply::Changed(n) => Ok(n),
        QueueReply::Rows(_) => Err(ApiError::unavailable(
            "the store answered a change with rows",
        )),
    }
}

/// `POST /queue/{id}/{action}`: `retry`, `hold` or `release`.
pub(crate) async fn act(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    // DELETE /queue/{id} is the API's delete; POST takes the others.
    let request = match action(id, &name)? {
        QueueRequest::Delete(_) => {
            return Err(ApiError::not_found("delete with DELETE /queue/{id}"));
        }
        r => r,
    };
    let n = change(&ctx, id, request).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "changed": n })))
}

pub(crate) async fn remove(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    change(&ctx, id, QueueRequest::Delete(id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
