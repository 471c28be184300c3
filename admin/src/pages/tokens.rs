//! API tokens: the list (name, account, made, last used), make one (its secret is shown on
//! the answer to the form, once, and never put in a URL), and revoke one.

use super::html::{Notice, csrf_field, esc, page, table, when};
use super::{Form, back, failed, field, html, notice, posted, signed_in};
use crate::auth::Caller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

/// The page, with `made` (a new token's name and secret) shown above the list.
async fn render(
    ctx: &AdminContext,
    caller: &Caller,
    csrf: &str,
    notice: Option<Notice>,
    made: Option<(String, String)>,
) -> HttpResponse {
    let tokens = match ctx.db.token_list().await {
        Ok(t) => t,
        Err(e) => {
            return failed("API tokens", Some((&caller.account.address, csrf)), e, "");
        }
    };
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                esc(&t.name),
                esc(&t.account),
                when(t.created),
                t.last_used.map(when).unwrap_or_else(|| "never".into()),
                format!(
                    "<form method=\"post\" action=\"/tokens/{}/delete\" class=\"inline\">{}<button>Revoke</button></form>",
                    t.id,
                    csrf_field(csrf)
                ),
            ]
        })
        .collect();
    let shown = match made {
        Some((name, secret)) => format!(
            "<p class=\"notice ok\" role=\"status\">Token {} made. Copy it now; it is not shown again:</p>\
             <p><code id=\"new-token\">{}</code></p><p>Use it as <code>Authorization: Bearer &lt;token&gt;</code>.</p>",
            esc(&name),
            esc(&secret)
        ),
        None => String::new(),
    };
    let body = format!(
        "{shown}<form method=\"post\" action=\"/tokens\">{}<label>Name <input name=\"name\" required maxlength=\"100\"></label> \
         <button>Make a token</button></form><p>A token acts as the admin who made it.</p>{}",
        csrf_field(csrf),
        table(
            &["Id", "Name", "Acts as", "Made (UTC)", "Last used (UTC)", ""],
            &rows
        )
    );
    html(
        StatusCode::OK,
        page(
            "API tokens",
            Some((&caller.account.address, csrf)),
            notice.as_ref(),
            &body,
        ),
    )
}

pub(super) async fn token_list(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    render(&ctx, &caller, &csrf, notice(&req), None).await
}

pub(super) async fn token_add(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    let (caller, csrf) = match posted(&req, &ctx, &form).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = field(&form, "name").to_string();
    let address = caller.account.address.clone();
    match ctx.db.token_create(&address, &name).await {
        Ok((token, secret)) => {
            tracing::info!(token = token.id, account = %token.account, "API token created in the admin panel");
            render(&ctx, &caller, &csrf, None, Some((token.name, secret))).await
        }
        Err(e) => back("/tokens", Err(ApiError::from(e))),
    }
}

pub(super) async fn token_remove(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    id: web::Path<i64>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let id = id.into_inner();
    let done = ctx
        .db
        .token_delete(id)
        .await
        .map(|()| {
            tracing::info!(token = id, "API token revoked in the admin panel");
            format!("revoked token {id}")
        })
        .map_err(ApiError::from);
    back("/tokens", done)
}
