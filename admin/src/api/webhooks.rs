//! `/api/v1/webhooks`: the configured targets (URL, event filter, how far each has got, its
//! last success and failure; never the secret), a target's last POSTs, and a signed `test`
//! event sent to one at once. Targets are configured in the file (`[[webhooks]]`), so adding
//! or removing one is a config change and a reload, not an API call.

use crate::auth::{ApiCaller, Caller};
use crate::context::AdminContext;
use crate::error::ApiError;
use crate::webhooks::{Attempt, HISTORY, ListTargets, RecentDeliveries, SendTest, TargetStatus};
use actix_web::{HttpResponse, web};
use mailroom_store::actor::LastEventId;
use serde::{Deserialize, Serialize};

/// POSTs listed when the request does not say.
const DEFAULT_LIMIT: usize = 50;

/// One target, as listed.
#[derive(Serialize)]
pub(crate) struct Target {
    pub(crate) url: String,
    /// The event types it is sent.
    pub(crate) events: Vec<&'static str>,
    /// The last event id its loop has passed.
    pub(crate) cursor: i64,
    /// The newest event id in the log.
    pub(crate) last_event_id: i64,
    /// Events logged after the cursor (those it does not want are passed without a POST).
    pub(crate) backlog: i64,
    pub(crate) last_delivery: Option<Attempt>,
    pub(crate) last_failure: Option<Attempt>,
    /// Failed POSTs since the last success (0 when it is healthy).
    pub(crate) consecutive_failures: u32,
    /// Its last POSTs, for the page (the API gives them at `/webhooks/deliveries`).
    #[serde(skip)]
    pub(crate) recent: Vec<Attempt>,
}

/// Every running target, each with its last `recent` POSTs, and the log's end for the
/// backlog.
pub(crate) async fn targets(ctx: &AdminContext, recent: usize) -> Result<Vec<Target>, ApiError> {
    let running = ctx
        .webhooks
        .send(ListTargets { recent })
        .await
        .map_err(|e| ApiError::unavailable(format!("webhooks unavailable: {e}")))?;
    let last = ctx
        .store
        .send(LastEventId)
        .await
        .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))??;
    Ok(running.into_iter().map(|t| target(t, last)).collect())
}

fn target(t: TargetStatus, last_event_id: i64) -> Target {
    let cursor = t.history.cursor;
    Target {
        url: t.url,
        events: t.events,
        cursor,
        last_event_id,
        backlog: (last_event_id - cursor).max(0),
        last_delivery: t.history.last_delivered,
        last_failure: t.history.last_failed,
        consecutive_failures: t.history.failing,
        recent: t.recent,
    }
}

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(targets(&ctx, 0).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveriesQuery {
    /// The target's URL, as configured.
    url: Option<String>,
    /// How many, newest first (default 50, at most 500).
    limit: Option<String>,
}

fn unknown(url: &str) -> ApiError {
    ApiError::not_found(format!("no webhook target has the URL {url:?}"))
}

fn required_url(url: Option<&str>) -> Result<&str, ApiError> {
    match url.map(str::trim) {
        Some(u) if !u.is_empty() => Ok(u),
        _ => Err(ApiError::bad_request(
            "url is required: the target's URL, as configured",
        )),
    }
}

pub(crate) async fn deliveries(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    q: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let url = required_url(q.url.as_deref())?;
    let limit = super::limit(q.limit.as_deref(), DEFAULT_LIMIT, HISTORY)?;
    let attempts = ctx
        .webhooks
        .send(RecentDeliveries {
            url: url.to_string(),
            limit,
        })
        .await
        .map_err(|e| ApiError::unavailable(format!("webhooks unavailable: {e}")))?
        .ok_or_else(|| unknown(url))?;
    Ok(HttpResponse::Ok().json(attempts))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    url: String,
}

/// Send a test event to `url` for `by` and say how the receiver answered.
pub(crate) async fn send_test(
    ctx: &AdminContext,
    by: &Caller,
    url: &str,
) -> Result<Attempt, ApiError> {
    let url = required_url(Some(url))?;
    let attempt = ctx
        .webhooks
        .send(SendTest {
            url: url.to_string(),
        })
        .await
        .map_err(|e| ApiError::unavailable(format!("webhooks unavailable: {e}")))?
        .ok_or_else(|| unknown(url))?;
    tracing::info!(url = %url, delivered = attempt.delivered, status = attempt.status,
        by = %by.account.address, "webhook test event sent");
    Ok(attempt)
}

pub(crate) async fn test(
    caller: ApiCaller,
    ctx: web::Data<AdminContext>,
    body: web::Json<TestRequest>,
) -> Result<HttpResponse, ApiError> {
    let attempt = send_test(&ctx, &caller.0, &body.url).await?;
    Ok(HttpResponse::Ok().json(attempt))
}
