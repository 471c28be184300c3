//! The outbound queue: list with filter, each message's recipients and attempts, and the
//! retry, hold, release and delete actions.

use super::html::{Notice, bytes, csrf_field, esc, page, table};
use super::{Form, back, html, notice, posted, signed_in};
use crate::api::queue;
use crate::context::AdminContext;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::HashMap;

pub(super) async fn queue_page(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let status = q.get("status").cloned().unwrap_or_default();
    let text = q.get("q").cloned().unwrap_or_default();
    let (rows, error) = match queue::rows(&ctx).await {
        Ok(r) => (r, None),
        Err(e) => (Vec::new(), Some(Notice::Error(e.message))),
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| queue::matches(r, Some(&status), Some(&text)))
        .map(|r| {
            let act = |action: &str, label: &str| format!("<form method=\"post\" action=\"/queue/{}/{action}\" class=\"inline\">{}<button>{label}</button></form>", r.message_id, csrf_field(&csrf));
            vec![
                r.message_id.to_string(),
                esc(if r.sender.is_empty() { "<>" } else { &r.sender }),
                esc(&r.recipient),
                esc(&r.status),
                r.attempts.to_string(),
                esc(r.last_error.as_deref().unwrap_or("")),
                bytes(r.size),
                format!("{}{}{}{}", act("retry", "Retry now"), act(if r.status == "held" { "release" } else { "hold" }, if r.status == "held" { "Release" } else { "Hold" }), "", act("delete", "Delete")),
            ]
        })
        .collect();
    let body = format!(
        "<form method=\"get\" action=\"/queue\"><select name=\"status\"><option value=\"\">any</option><option value=\"queued\"{}>queued</option><option value=\"held\"{}>held</option></select> \
         <input name=\"q\" value=\"{}\" placeholder=\"address contains\"> <button>Filter</button></form>{}",
        if status == "queued" { " selected" } else { "" },
        if status == "held" { " selected" } else { "" },
        esc(&text),
        table(
            &[
                "Message",
                "Sender",
                "Recipient",
                "Status",
                "Attempts",
                "Last error",
                "Size",
                ""
            ],
            &rows
        )
    );
    html(
        StatusCode::OK,
        page(
            "Outbound queue",
            Some((&caller.account.address, &csrf)),
            error.as_ref().or(notice(&req).as_ref()),
            &body,
        ),
    )
}

pub(super) async fn queue_act(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    path: web::Path<(i64, String)>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let (id, name) = path.into_inner();
    let done = match queue::action(id, &name) {
        Ok(request) => queue::change(&ctx, id, request)
            .await
            .map(|_| format!("{name}: message {id}")),
        Err(e) => Err(e),
    };
    back("/queue", done)
}
