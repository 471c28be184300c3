//! Webhooks: each configured target with its event filter, how far it has got, its last
//! delivery and failure, its last POSTs, and a button that sends it a signed test event.

use super::html::{csrf_field, esc, page, table, when};
use super::{Form, back, failed, field, html, notice, posted, signed_in};
use crate::api::webhooks::{send_test, targets};
use crate::context::AdminContext;
use crate::error::ApiError;
use crate::webhooks::Attempt;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

/// POSTs shown per target.
const RECENT: usize = 20;

/// What came of one POST, in a few words.
fn outcome(a: &Attempt) -> String {
    match (&a.status, &a.error) {
        (Some(code), None) => format!("{code} OK"),
        (_, Some(e)) => e.clone(),
        (None, None) => String::new(),
    }
}

fn summary(a: Option<&Attempt>) -> String {
    match a {
        Some(a) => format!(
            "{} event {} ({}): {}",
            when(a.at),
            a.event_id,
            esc(a.event_type),
            esc(&outcome(a))
        ),
        None => "never".into(),
    }
}

pub(super) async fn webhooks_page(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let who = Some((caller.account.address.as_str(), csrf.as_str()));
    let list = match targets(&ctx, RECENT).await {
        Ok(t) => t,
        Err(e) => return failed("Webhooks", who, e, ""),
    };
    let mut body = String::from(
        "<p>Targets are set in the configuration file (<code>[[webhooks]]</code>); a reload \
         applies a change. Each event is sent in order until its receiver answers 2xx.</p>",
    );
    if list.is_empty() {
        body.push_str("<p>No webhook targets are configured.</p>");
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            let health = if t.consecutive_failures == 0 {
                "ok".to_string()
            } else {
                format!("failing ({} tries)", t.consecutive_failures)
            };
            vec![
                esc(&t.url),
                esc(&t.events.join(", ")),
                format!("{} of {}", t.cursor, t.last_event_id),
                t.backlog.to_string(),
                health,
                summary(t.last_delivery.as_ref()),
                summary(t.last_failure.as_ref()),
                format!(
                    "<form method=\"post\" action=\"/webhooks/test\" class=\"inline\">{}\
                     <input type=\"hidden\" name=\"url\" value=\"{}\"><button>Send test event</button></form>",
                    csrf_field(&csrf),
                    esc(&t.url)
                ),
            ]
        })
        .collect();
    if !list.is_empty() {
        body.push_str(&table(
            &[
                "URL",
                "Events",
                "Position",
                "Backlog",
                "State",
                "Last delivery",
                "Last failure",
                "",
            ],
            &rows,
        ));
    }
    for t in &list {
        let rows: Vec<Vec<String>> = t
            .recent
            .iter()
            .map(|a| {
                vec![
                    when(a.at),
                    a.event_id.to_string(),
                    esc(a.event_type),
                    a.attempt.to_string(),
                    if a.delivered { "delivered" } else { "failed" }.into(),
                    esc(&outcome(a)),
                    format!("{} ms", a.duration_ms),
                ]
            })
            .collect();
        body.push_str(&format!("<h2>Last POSTs to {}</h2>", esc(&t.url)));
        if rows.is_empty() {
            body.push_str("<p>None since the target started.</p>");
        } else {
            body.push_str(&table(
                &[
                    "At (UTC)", "Event", "Type", "Try", "Result", "Answer", "Took",
                ],
                &rows,
            ));
        }
    }
    html(
        StatusCode::OK,
        page("Webhooks", who, notice(&req).as_ref(), &body),
    )
}

pub(super) async fn webhook_test(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    let caller = match posted(&req, &ctx, &form).await {
        Ok((caller, _)) => caller,
        Err(r) => return r,
    };
    let url = field(&form, "url");
    let done = match send_test(&ctx, &caller, url).await {
        Ok(a) if a.delivered => Ok(format!(
            "test event delivered to {url}: the receiver answered {} in {} ms",
            outcome(&a),
            a.duration_ms
        )),
        Ok(a) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the test event to {url} failed: {}", outcome(&a)),
        )),
        Err(e) => Err(e),
    };
    back("/webhooks", done)
}
