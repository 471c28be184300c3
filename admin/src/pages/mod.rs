//! The admin panel: server-rendered pages that work without JavaScript. Every page needs a
//! signed-in admin (else 303 to `/login`); every form posts its session's CSRF token, and a
//! wrong one is refused with 403 before anything changes. After a change the browser is sent
//! back (303) with a notice, so a reload never repeats it.
//!
//! This module holds what every page shares (the sign-in and CSRF gates, redirects with a
//! notice); each page lives in its own module.

mod accounts;
mod aliases;
mod chart;
mod config;
mod dashboard;
mod domains;
mod html;
mod login;
mod policy;
mod queue;
mod sessions;
mod tokens;
mod webhooks;

use crate::auth::{self, Caller, Via};
use crate::context::AdminContext;
use crate::error::ApiError;
use crate::sessions::same_secret;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use html::{Notice, page, seg};
use std::collections::HashMap;

type Form = web::Form<HashMap<String, String>>;

/// Mount the panel on `cfg`.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/panel.css", web::get().to(css))
        .route("/login", web::get().to(login::login_form))
        .route("/login", web::post().to(login::login))
        .route("/logout", web::post().to(login::logout))
        .route("/", web::get().to(dashboard::dashboard))
        .route("/domains", web::get().to(domains::domain_list))
        .route("/domains", web::post().to(domains::domain_add))
        .route("/domains/{name}", web::get().to(domains::domain_page))
        .route(
            "/domains/{name}/delete",
            web::post().to(domains::domain_remove),
        )
        .route("/accounts", web::get().to(accounts::account_list))
        .route("/accounts", web::post().to(accounts::account_add))
        .route("/accounts/{address}", web::get().to(accounts::account_page))
        .route(
            "/accounts/{address}",
            web::post().to(accounts::account_change),
        )
        .route("/aliases", web::get().to(aliases::alias_list))
        .route("/aliases", web::post().to(aliases::alias_add))
        .route("/aliases/delete", web::post().to(aliases::alias_remove))
        .route("/queue", web::get().to(queue::queue_page))
        .route("/queue/{id}/{action}", web::post().to(queue::queue_act))
        .route("/policy", web::get().to(policy::policy_page))
        .route(
            "/policy/lockouts/lift",
            web::post().to(policy::lockout_lift),
        )
        .route(
            "/policy/greylist/{action}",
            web::post().to(policy::greylist_edit),
        )
        .route("/webhooks", web::get().to(webhooks::webhooks_page))
        .route("/webhooks/test", web::post().to(webhooks::webhook_test))
        .route("/sessions", web::get().to(sessions::sessions_page))
        .route("/sessions/{id}/end", web::post().to(sessions::session_end))
        .route("/tokens", web::get().to(tokens::token_list))
        .route("/tokens", web::post().to(tokens::token_add))
        .route("/tokens/{id}/delete", web::post().to(tokens::token_remove))
        .route("/config", web::get().to(config::config_page))
        .route("/config/reload", web::post().to(config::config_reload));
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(html::CSS)
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// Back to `to` with a notice in the query (shown once by the page).
fn back(to: &str, notice: Result<String, ApiError>) -> HttpResponse {
    let (key, text) = match notice {
        Ok(t) => ("ok", t),
        Err(e) => ("error", e.message),
    };
    let sep = if to.contains('?') { '&' } else { '?' };
    see_other(&format!("{to}{sep}{key}={}", seg(&text)))
}

/// The notice a redirect carried.
fn notice(req: &HttpRequest) -> Option<Notice> {
    let q = web::Query::<HashMap<String, String>>::from_query(req.query_string()).ok()?;
    if let Some(e) = q.get("error") {
        return Some(Notice::Error(e.clone()));
    }
    q.get("ok").map(|t| Notice::Ok(t.clone()))
}

/// The signed-in admin and the session's CSRF token, or the answer to give instead.
async fn signed_in(
    req: &HttpRequest,
    ctx: &AdminContext,
) -> Result<(Caller, String), HttpResponse> {
    let Some(snapshot) = ctx.snapshot().await else {
        return Err(html(
            StatusCode::SERVICE_UNAVAILABLE,
            page("Unavailable", None, None, "<p>Shutting down.</p>"),
        ));
    };
    match auth::session_caller(req, ctx, &snapshot.config).await {
        Ok(Some(caller)) => {
            let csrf = match &caller.via {
                Via::Session { session, .. } => session.csrf.clone(),
                _ => String::new(),
            };
            Ok((caller, csrf))
        }
        Ok(None) => Err(see_other("/login")),
        Err(e) => Err(html(
            e.status,
            page("Error", None, Some(&Notice::Error(e.message)), ""),
        )),
    }
}

/// [`signed_in`] for a form post: also the CSRF check (403, nothing done).
async fn posted(
    req: &HttpRequest,
    ctx: &AdminContext,
    form: &HashMap<String, String>,
) -> Result<(Caller, String), HttpResponse> {
    let (caller, csrf) = signed_in(req, ctx).await.map_err(|r| {
        if r.status() == StatusCode::SEE_OTHER {
            forbidden("You are not signed in.")
        } else {
            r
        }
    })?;
    let sent = form.get("csrf").map(String::as_str).unwrap_or("");
    if csrf.is_empty() || !same_secret(sent, &csrf) {
        return Err(forbidden(
            "The form's CSRF token is missing or wrong; nothing was changed. Reload the page and try again.",
        ));
    }
    Ok((caller, csrf))
}

/// A page titled `title` that could not be made: the error, with the nav and `body`.
fn failed(
    title: &str,
    who: Option<(&str, &str)>,
    e: impl Into<ApiError>,
    body: &str,
) -> HttpResponse {
    let e = e.into();
    html(
        e.status,
        page(title, who, Some(&Notice::Error(e.message)), body),
    )
}

fn forbidden(why: &str) -> HttpResponse {
    html(
        StatusCode::FORBIDDEN,
        page(
            "Refused",
            None,
            Some(&Notice::Error(why.into())),
            "<p><a href=\"/\">Back to the panel</a></p>",
        ),
    )
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(|s| s.trim()).unwrap_or("")
}
