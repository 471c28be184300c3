//! Sign-in and sign-out: the login form, a session cookie (HttpOnly, SameSite=Strict, Secure
//! over TLS) after a good admin password, and its removal.

use super::html::{Notice, page};
use super::{Form, field, html, posted};
use crate::auth::{self, Via, client_ip};
use crate::context::AdminContext;
use crate::sessions::COOKIE;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

fn login_page(status: StatusCode, error: Option<String>) -> HttpResponse {
    let body = "<form method=\"post\" action=\"/login\"><p><label>Address <input name=\"address\" type=\"email\" required autocomplete=\"username\"></label></p>\
        <p><label>Password <input name=\"password\" type=\"password\" required autocomplete=\"current-password\"></label></p>\
        <p><button>Sign in</button></p></form>";
    html(
        status,
        page("Sign in", None, error.map(Notice::Error).as_ref(), body),
    )
}

pub(super) async fn login_form() -> HttpResponse {
    login_page(StatusCode::OK, None)
}

pub(super) async fn login(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    let Some(snapshot) = ctx.snapshot().await else {
        return login_page(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("The server is shutting down.".into()),
        );
    };
    let config = &snapshot.config;
    let address = field(&form, "address").to_string();
    let password = form.get("password").cloned().unwrap_or_default();
    match auth::sign_in(&ctx, config, client_ip(&req), "panel", address, password).await {
        Ok(account) => {
            let Some((id, _)) = ctx.logins.create(&account.address) else {
                return login_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some("No randomness for a session.".into()),
                );
            };
            tracing::info!(account = %account.address, "signed in to the admin panel");
            let cookie = Cookie::build(COOKIE, id)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(config.admin.tls)
                .finish();
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/"))
                .cookie(cookie)
                .finish()
        }
        Err(e) => login_page(e.status, Some(e.message)),
    }
}

pub(super) async fn logout(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    let (caller, _) = match posted(&req, &ctx, &form).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Via::Session { id, .. } = &caller.via {
        ctx.logins.remove(id);
    }
    let mut gone = Cookie::build(COOKIE, "").path("/").finish();
    gone.make_removal();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .cookie(gone)
        .finish()
}
