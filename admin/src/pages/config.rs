//! Config: the running configuration with secrets masked, its generation and load time, and
//! the reload button (what SIGHUP does, with the validation errors when the file is bad).

use super::html::{csrf_field, esc, page, when};
use super::{Form, back, failed, html, notice, posted, signed_in};
use crate::api::system;
use crate::context::AdminContext;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub(super) async fn config_page(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let who = Some((caller.account.address.as_str(), csrf.as_str()));
    let config = match system::masked_config(&ctx).await {
        Ok(c) => c,
        Err(e) => {
            return failed("Config", who, e, "");
        }
    };
    let started = ctx
        .started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let body = format!(
        "<p>Generation <b>{}</b>; server started {} (UTC). Secrets are masked.</p>\
         <form method=\"post\" action=\"/config/reload\">{}<button>Reload the configuration file</button> (what SIGHUP does)</form><pre>{}</pre>",
        config["config_generation"],
        when(started),
        csrf_field(&csrf),
        esc(&serde_json::to_string_pretty(&config["config"]).unwrap_or_default())
    );
    html(
        StatusCode::OK,
        page("Config", who, notice(&req).as_ref(), &body),
    )
}

pub(super) async fn config_reload(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    back(
        "/config",
        system::reload_now(&ctx)
            .await
            .map(|g| format!("reloaded: generation {g}")),
    )
}
