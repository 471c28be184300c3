//! Sessions: the open connections (protocol, peer, account, since) and a way to end one.

use super::html::{csrf_field, esc, page, table, when};
use super::{Form, back, html, notice, posted, signed_in};
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub(super) async fn sessions_page(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut open = ctx.tracker.list();
    open.sort_by_key(|s| s.session_id);
    let rows: Vec<Vec<String>> = open
        .iter()
        .map(|s| {
            vec![
                s.session_id.to_string(),
                esc(&s.kind.to_string()),
                esc(&s.peer.to_string()),
                esc(s.account.as_deref().unwrap_or("")),
                when(s.since as i64),
                format!(
                    "<form method=\"post\" action=\"/sessions/{}/end\" class=\"inline\">{}<button>End</button></form>",
                    s.session_id,
                    csrf_field(&csrf)
                ),
            ]
        })
        .collect();
    let body = table(
        &["Session", "Listener", "Peer", "Account", "Since (UTC)", ""],
        &rows,
    );
    html(
        StatusCode::OK,
        page(
            "Sessions",
            Some((&caller.account.address, &csrf)),
            notice(&req).as_ref(),
            &body,
        ),
    )
}

pub(super) async fn session_end(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    id: web::Path<u64>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let id = id.into_inner();
    let done = if ctx.tracker.end(id) {
        Ok(format!("ended session {id}"))
    } else {
        Err(ApiError::not_found(format!("open session {id}")))
    };
    back("/sessions", done)
}
