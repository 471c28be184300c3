//! The admin panel: server-rendered pages that work without JavaScript. Every page needs a
//! signed-in admin (else 303 to `/login`); every form posts its session's CSRF token, and a
//! wrong one is refused with 403 before anything changes. After a change the browser is sent
//! back (303) with a notice, so a reload never repeats it.

mod chart;
mod html;

use crate::api::{domains, queue, system};
use crate::auth::{self, Caller, Via, client_ip};
use crate::context::AdminContext;
use crate::error::ApiError;
use crate::sessions::{COOKIE, same_secret};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use html::{Notice, bytes, csrf_field, esc, page, seg, table};
use mailroom_shared::Secret;
use mailroom_store::{AccountChange, Role};
use std::collections::HashMap;

type Form = web::Form<HashMap<String, String>>;

/// Mount the panel on `cfg`.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/panel.css", web::get().to(css))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/", web::get().to(dashboard))
        .route("/domains", web::get().to(domain_list))
        .route("/domains", web::post().to(domain_add))
        .route("/domains/{name}", web::get().to(domain_page))
        .route("/domains/{name}/delete", web::post().to(domain_remove))
        .route("/accounts", web::get().to(account_list))
        .route("/accounts", web::post().to(account_add))
        .route("/accounts/{address}", web::get().to(account_page))
        .route("/accounts/{address}", web::post().to(account_change))
        .route("/aliases", web::get().to(alias_list))
        .route("/aliases", web::post().to(alias_add))
        .route("/aliases/delete", web::post().to(alias_remove))
        .route("/queue", web::get().to(queue_page))
        .route("/queue/{id}/{action}", web::post().to(queue_act))
        .route("/sessions", web::get().to(sessions_page))
        .route("/sessions/{id}/end", web::post().to(session_end))
        .route("/config", web::get().to(config_page))
        .route("/config/reload", web::post().to(config_reload));
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

// ---- sign-in ---------------------------------------------------------------------------

fn login_page(status: StatusCode, error: Option<String>) -> HttpResponse {
    let body = "<form method=\"post\" action=\"/login\"><p><label>Address <input name=\"address\" type=\"email\" required autocomplete=\"username\"></label></p>\
        <p><label>Password <input name=\"password\" type=\"password\" required autocomplete=\"current-password\"></label></p>\
        <p><button>Sign in</button></p></form>";
    html(
        status,
        page("Sign in", None, error.map(Notice::Error).as_ref(), body),
    )
}

async fn login_form() -> HttpResponse {
    login_page(StatusCode::OK, None)
}

async fn login(req: HttpRequest, ctx: web::Data<AdminContext>, form: Form) -> HttpResponse {
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

async fn logout(req: HttpRequest, ctx: web::Data<AdminContext>, form: Form) -> HttpResponse {
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

// ---- dashboard -------------------------------------------------------------------------

async fn dashboard(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let stats = match system::gather(&ctx).await {
        Ok(s) => s,
        Err(e) => {
            return html(
                e.status,
                page(
                    "Dashboard",
                    Some((&caller.account.address, &csrf)),
                    Some(&Notice::Error(e.message)),
                    "",
                ),
            );
        }
    };
    let mut per_protocol: HashMap<String, usize> = HashMap::new();
    for s in ctx.tracker.list() {
        *per_protocol.entry(s.kind.to_string()).or_default() += 1;
    }
    let mut sessions: Vec<String> = per_protocol
        .iter()
        .map(|(k, n)| format!("{} {n}", esc(k)))
        .collect();
    sessions.sort();
    let card = |label: &str, value: String| {
        format!("<div class=\"card\">{}<b>{value}</b></div>", esc(label))
    };
    let body = format!(
        "<div class=\"cards\">{}{}{}{}{}{}{}{}</div><h2>Last 48 hours</h2>{}",
        card("Uptime", esc(&uptime(stats.uptime_secs))),
        card("Version", esc(stats.version)),
        card("Config generation", stats.config_generation.to_string()),
        card(
            "Queue",
            format!("{} queued, {} held", stats.queue.queued, stats.queue.held)
        ),
        card(
            "Store",
            format!(
                "{} db, {} mail",
                bytes(stats.store.database_bytes),
                bytes(stats.store.message_bytes)
            )
        ),
        card("Connections", stats.connections_open.to_string()),
        card(
            "Sessions",
            if sessions.is_empty() {
                "none".into()
            } else {
                sessions.join(", ")
            }
        ),
        card(
            "Domains / accounts",
            format!("{} / {}", stats.domains, stats.accounts)
        ),
        chart::svg(&stats.hourly),
    );
    html(
        StatusCode::OK,
        page(
            "Dashboard",
            Some((&caller.account.address, &csrf)),
            notice(&req).as_ref(),
            &body,
        ),
    )
}

fn uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {}s", secs % 60)
    }
}

// ---- domains ---------------------------------------------------------------------------

async fn domain_list(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let list = ctx.db.run(|db| db.domain_list()).await;
    let (rows, error) = match list {
        Ok(l) => (l, None),
        Err(e) => (Vec::new(), Some(Notice::Error(e.to_string()))),
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|d| {
            vec![
                format!("<a href=\"/domains/{}\">{}</a>", seg(&d.name), esc(&d.name)),
                format!(
                    "<form method=\"post\" action=\"/domains/{}/delete\" class=\"inline\">{}<label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> sure</label> <button>Remove</button></form>",
                    seg(&d.name),
                    csrf_field(&csrf)
                ),
            ]
        })
        .collect();
    let body = format!(
        "{}<h2>Add a domain</h2><form method=\"post\" action=\"/domains\">{}<input name=\"name\" placeholder=\"example.org\" required> <button>Add</button></form>",
        table(&["Domain", ""], &rows),
        csrf_field(&csrf)
    );
    html(
        StatusCode::OK,
        page(
            "Domains",
            Some((&caller.account.address, &csrf)),
            error.as_ref().or(notice(&req).as_ref()),
            &body,
        ),
    )
}

async fn domain_add(req: HttpRequest, ctx: web::Data<AdminContext>, form: Form) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let name = field(&form, "name").to_string();
    let done = ctx.db.run(move |db| db.domain_add(&name)).await;
    match done {
        Ok(d) => see_other(&format!(
            "/domains/{}?ok={}",
            seg(&d.name),
            seg(&format!("added {}", d.name))
        )),
        Err(e) => back("/domains", Err(e.into())),
    }
}

async fn domain_remove(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    name: web::Path<String>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    if field(&form, "confirm") != "yes" {
        return back(
            "/domains",
            Err(ApiError::bad_request("tick \"sure\" to remove a domain")),
        );
    }
    let name = name.into_inner();
    let shown = name.clone();
    let done = ctx.db.run(move |db| db.domain_remove(&name)).await;
    back(
        "/domains",
        done.map(|()| format!("removed {shown}"))
            .map_err(ApiError::from),
    )
}

async fn domain_page(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    name: web::Path<String>,
) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let who = Some((caller.account.address.as_str(), csrf.as_str()));
    let name = name.into_inner();
    let records = match domains::dns_view(&ctx, name.clone(), true).await {
        Ok(r) => r,
        Err(e) => {
            return html(
                e.status,
                page(
                    &name,
                    who,
                    Some(&Notice::Error(e.message)),
                    "<p><a href=\"/domains\">Domains</a></p>",
                ),
            );
        }
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let status = r["check"]["status"]
                .as_str()
                .unwrap_or("unknown")
                .to_string();
            let detail = match status.as_str() {
                "wrong" => format!(": found {}", esc(&r["check"]["found"].to_string())),
                "unknown" => format!(": {}", esc(r["check"]["error"].as_str().unwrap_or(""))),
                _ => String::new(),
            };
            vec![
                esc(&text("purpose")),
                format!("<code>{}</code>", esc(&text("name"))),
                esc(&text("rtype")),
                format!("<code>{}</code>", esc(&text("value"))),
                format!("<span class=\"{0}\">{0}</span>{detail}", esc(&status)),
            ]
        })
        .collect();
    let body = format!(
        "<p>Publish these records in the DNS of <b>{}</b>. The last column is what the configured resolver sees now.</p>{}",
        esc(&name),
        table(&["Purpose", "Name", "Type", "Value", "Live check"], &rows)
    );
    html(
        StatusCode::OK,
        page(&name, who, notice(&req).as_ref(), &body),
    )
}

// ---- accounts --------------------------------------------------------------------------

async fn account_list(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (accounts, error) = match ctx.db.run(|db| db.user_list()).await {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(Notice::Error(e.to_string()))),
    };
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            let quota = if a.quota_bytes == 0 {
                "unlimited".to_string()
            } else {
                bytes(a.quota_bytes)
            };
            vec![
                format!(
                    "<a href=\"/accounts/{}\">{}</a>",
                    seg(&a.address),
                    esc(&a.address)
                ),
                esc(a.role.as_str()),
                format!("{} of {quota}", bytes(a.used_bytes)),
                if a.disabled {
                    "disabled".into()
                } else {
                    "active".into()
                },
            ]
        })
        .collect();
    let body = format!(
        "{}<h2>New account</h2><form method=\"post\" action=\"/accounts\">{}\
         <input name=\"address\" type=\"email\" placeholder=\"alice@example.org\" required> \
         <input name=\"password\" type=\"password\" placeholder=\"password (8+)\" minlength=\"8\" required> \
         <input name=\"quota\" placeholder=\"quota bytes (0 = none)\"> \
         <select name=\"role\"><option value=\"user\">user</option><option value=\"admin\">admin</option></select> \
         <button>Create</button></form>",
        table(&["Address", "Role", "Quota use", "State"], &rows),
        csrf_field(&csrf)
    );
    html(
        StatusCode::OK,
        page(
            "Accounts",
            Some((&caller.account.address, &csrf)),
            error.as_ref().or(notice(&req).as_ref()),
            &body,
        ),
    )
}

fn quota(text: &str) -> Result<Option<u64>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ApiError::bad_request(format!("quota must be a number of bytes, not {text:?}"))
    })
}

async fn account_add(req: HttpRequest, ctx: web::Data<AdminContext>, form: Form) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let address = field(&form, "address").to_string();
    let password = Secret::new(form.get("password").cloned().unwrap_or_default());
    let role = if field(&form, "role") == "admin" {
        Role::Admin
    } else {
        Role::User
    };
    let quota = match quota(field(&form, "quota")) {
        Ok(q) => q,
        Err(e) => return back("/accounts", Err(e)),
    };
    let done = ctx
        .db
        .run(move |db| db.user_add(&address, &password, role, quota))
        .await;
    back(
        "/accounts",
        done.map(|a| format!("created {}", a.address))
            .map_err(ApiError::from),
    )
}

async fn account_page(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    address: web::Path<String>,
) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let who = Some((caller.account.address.as_str(), csrf.as_str()));
    let address = address.into_inner();
    let wanted = address.clone();
    let account = match ctx.db.run(move |db| db.user_get(&wanted)).await {
        Ok(a) => a,
        Err(e) => {
            let e = ApiError::from(e);
            return html(
                e.status,
                page(
                    &address,
                    who,
                    Some(&Notice::Error(e.message)),
                    "<p><a href=\"/accounts\">Accounts</a></p>",
                ),
            );
        }
    };
    let action = format!("/accounts/{}", seg(&account.address));
    let form = |fields: &str, button: &str| {
        format!(
            "<form method=\"post\" action=\"{action}\">{}{fields} <button>{button}</button></form>",
            csrf_field(&csrf)
        )
    };
    let body = format!(
        "<p>Role <b>{}</b>, {} used of {}, {}.</p>{}{}{}{}{}",
        esc(account.role.as_str()),
        bytes(account.used_bytes),
        if account.quota_bytes == 0 {
            "unlimited".into()
        } else {
            bytes(account.quota_bytes)
        },
        if account.disabled {
            "disabled"
        } else {
            "active"
        },
        form(
            "<input type=\"hidden\" name=\"action\" value=\"password\"><input name=\"password\" type=\"password\" placeholder=\"new password\" minlength=\"8\" required>",
            "Reset password"
        ),
        form(
            &format!(
                "<input type=\"hidden\" name=\"action\" value=\"quota\"><input name=\"quota\" value=\"{}\">",
                account.quota_bytes
            ),
            "Set quota (bytes, 0 = none)"
        ),
        form(
            &format!(
                "<input type=\"hidden\" name=\"action\" value=\"role\"><select name=\"role\"><option value=\"user\"{}>user</option><option value=\"admin\"{}>admin</option></select>",
                if account.role == Role::User {
                    " selected"
                } else {
                    ""
                },
                if account.role == Role::Admin {
                    " selected"
                } else {
                    ""
                }
            ),
            "Set role"
        ),
        form(
            &format!(
                "<input type=\"hidden\" name=\"action\" value=\"{}\">",
                if account.disabled {
                    "enable"
                } else {
                    "disable"
                }
            ),
            if account.disabled {
                "Enable"
            } else {
                "Disable"
            }
        ),
        form(
            "<input type=\"hidden\" name=\"action\" value=\"delete\"><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> delete this account and all its mail</label>",
            "Delete"
        ),
    );
    html(
        StatusCode::OK,
        page(&account.address, who, notice(&req).as_ref(), &body),
    )
}

async fn account_change(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    address: web::Path<String>,
    form: Form,
) -> HttpResponse {
    let (caller, _) = match posted(&req, &ctx, &form).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let address = address.into_inner();
    let here = format!("/accounts/{}", seg(&address));
    let target = address.clone();
    let result: Result<String, ApiError> = match field(&form, "action") {
        "password" => {
            let p = Secret::new(form.get("password").cloned().unwrap_or_default());
            let done = ctx.db.run(move |db| db.user_passwd(&target, &p)).await;
            if done.is_ok() {
                ctx.logins.remove_account(&address);
            }
            done.map(|()| "password changed".into())
                .map_err(ApiError::from)
        }
        "quota" => match quota(field(&form, "quota")) {
            Ok(q) => {
                let change = AccountChange {
                    quota_bytes: Some(q.unwrap_or(0)),
                    ..AccountChange::default()
                };
                ctx.db
                    .run(move |db| db.user_change(&target, &change))
                    .await
                    .map(|_| "quota set".into())
                    .map_err(ApiError::from)
            }
            Err(e) => Err(e),
        },
        "role" => {
            let role = if field(&form, "role") == "admin" {
                Role::Admin
            } else {
                Role::User
            };
            let change = AccountChange {
                role: Some(role),
                ..AccountChange::default()
            };
            ctx.db
                .run(move |db| db.user_change(&target, &change))
                .await
                .map(|_| format!("role set to {role}"))
                .map_err(ApiError::from)
        }
        a @ ("disable" | "enable") => {
            let change = AccountChange {
                disabled: Some(a == "disable"),
                ..AccountChange::default()
            };
            let done = ctx.db.run(move |db| db.user_change(&target, &change)).await;
            if a == "disable" && done.is_ok() {
                ctx.logins.remove_account(&address);
            }
            done.map(|_| format!("{a}d")).map_err(ApiError::from)
        }
        "delete" => {
            if field(&form, "confirm") != "yes" {
                Err(ApiError::bad_request(
                    "tick the box to confirm the deletion",
                ))
            } else if address.eq_ignore_ascii_case(&caller.account.address) {
                Err(ApiError::bad_request(
                    "you cannot delete the account you are signed in with",
                ))
            } else {
                let done = ctx.db.run(move |db| db.user_remove(&target)).await;
                if done.is_ok() {
                    ctx.logins.remove_account(&address);
                    return back("/accounts", Ok(format!("deleted {address}")));
                }
                done.map(|()| String::new()).map_err(ApiError::from)
            }
        }
        other => Err(ApiError::bad_request(format!("unknown action {other:?}"))),
    };
    back(&here, result)
}

// ---- aliases ---------------------------------------------------------------------------

async fn alias_list(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (aliases, error) = match ctx.db.run(|db| db.alias_list()).await {
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

async fn alias_add(req: HttpRequest, ctx: web::Data<AdminContext>, form: Form) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let source = field(&form, "source").to_string();
    let targets: Vec<String> = field(&form, "targets")
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let done = ctx.db.run(move |db| db.alias_add(&source, &targets)).await;
    back(
        "/aliases",
        done.map(|a| format!("added {}", a.source))
            .map_err(ApiError::from),
    )
}

async fn alias_remove(req: HttpRequest, ctx: web::Data<AdminContext>, form: Form) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let source = field(&form, "source").to_string();
    let shown = source.clone();
    let done = ctx.db.run(move |db| db.alias_remove(&source)).await;
    back(
        "/aliases",
        done.map(|()| format!("removed {shown}"))
            .map_err(ApiError::from),
    )
}

// ---- queue -----------------------------------------------------------------------------

async fn queue_page(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
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

async fn queue_act(
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

// ---- sessions --------------------------------------------------------------------------

async fn sessions_page(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
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
                esc(&mail_parser::DateTime::from_timestamp(s.since as i64).to_rfc3339()),
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

async fn session_end(
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

// ---- config ----------------------------------------------------------------------------

async fn config_page(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let who = Some((caller.account.address.as_str(), csrf.as_str()));
    let config = match system::masked_config(&ctx).await {
        Ok(c) => c,
        Err(e) => {
            return html(
                e.status,
                page("Config", who, Some(&Notice::Error(e.message)), ""),
            );
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
        esc(&mail_parser::DateTime::from_timestamp(started).to_rfc3339()),
        csrf_field(&csrf),
        esc(&serde_json::to_string_pretty(&config["config"]).unwrap_or_default())
    );
    html(
        StatusCode::OK,
        page("Config", who, notice(&req).as_ref(), &body),
    )
}

async fn config_reload(req: HttpRequest, ctx: web::Data<AdminContext>, form: Form) -> HttpResponse {
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
