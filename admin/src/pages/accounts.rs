//! Accounts: the list with quota use, create, and each account's page (password, quota, role,
//! disable, delete with confirmation).

use super::html::{Notice, bytes, csrf_field, esc, page, seg, table};
use super::{Form, back, failed, field, html, notice, posted, signed_in};
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use mailroom_shared::Secret;
use mailroom_store::{AccountChange, Role};

pub(super) async fn account_list(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (accounts, error) = match ctx.db.user_list().await {
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

pub(super) async fn account_add(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
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
    let done = ctx.db.user_add(&address, &password, role, quota).await;
    back(
        "/accounts",
        done.map(|a| format!("created {}", a.address))
            .map_err(ApiError::from),
    )
}

pub(super) async fn account_page(
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
    let account = match ctx.db.user_get(&wanted).await {
        Ok(a) => a,
        Err(e) => {
            return failed(
                &address,
                who,
                e,
                "<p><a href=\"/accounts\">Accounts</a></p>",
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

pub(super) async fn account_change(
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
            let done = ctx.db.user_passwd(&target, &p).await;
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
                    .user_change(&target, &change)
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
                .user_change(&target, &change)
                .await
                .map(|_| format!("role set to {role}"))
                .map_err(ApiError::from)
        }
        a @ ("disable" | "enable") => {
            let change = AccountChange {
                disabled: Some(a == "disable"),
                ..AccountChange::default()
            };
            let done = ctx.db.user_change(&target, &change).await;
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
                let done = ctx.db.user_remove(&target).await;
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
