//! Aliases and catch-alls: the list, add and remove.

use super::html::{Notice, csrf_field, esc, page, table};
use super::{Form, back, field, html, notice, posted, signed_in};
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub(super) async fn alias_list(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (aliases, error) = match ctx.db.alias_list().await {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(Notice::Error(e.to_string()))),
    };
    let rows: Vec<Vec<String>> = aliases
        .iter()
        .map(|a| {
            vec![
                esc(&a.source),
                esc(&a.targets.join(", ")),
                format!("<form method=\"post\" action=\"/aliases/delete\" class=\"inline\">{}<input type=\"hidden\" name=\"source\" value=\"{}\"><button>Remove</button></form>", csrf_field(&csrf), esc(&a.source)),
            ]
        })
        .collect();
    let body = format!(
        "{}<h2>New alias</h2><p>A source of <code>@domain</code> is a catch-all.</p><form method=\"post\" action=\"/aliases\">{}\
         <input name=\"source\" placeholder=\"sales@example.org\" required> → <input name=\"targets\" placeholder=\"alice@example.org, bob@example.org\" required> <button>Add</button></form>",
        table(&["Source", "Targets", ""], &rows),
        csrf_field(&csrf)
    );
    html(
        StatusCode::OK,
        page(
            "Aliases",
            Some((&caller.account.address, &csrf)),
            error.as_ref().or(notice(&req).as_ref()),
            &body,
        ),
    )
}

pub(super) async fn alias_add(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let source = field(&form, "source").to_string();
    let targets: Vec<String> = field(&form, "targets")
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let done = ctx.db.alias_add(&source, &targets).await;
    back(
        "/aliases",
        done.map(|a| format!("added {}", a.source))
            .map_err(ApiError::from),
    )
}

pub(super) async fn alias_remove(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let source = field(&form, "source").to_string();
    let shown = source.clone();
    let done = ctx.db.alias_remove(&source).await;
    back(
        "/aliases",
        done.map(|()| format!("removed {shown}"))
            .map_err(ApiError::from),
    )
}
