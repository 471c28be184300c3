//! Policy: the login guard's lockouts (every protocol's, with a Lift button), greylist
//! entries (search, delete, whitelist), the recent rejections and why, and the spam
//! decisions with the rules that fired.

use super::html::{csrf_field, esc, page, seg, table, when};
use super::{Form, back, failed, field, html, notice, posted, signed_in};
use crate::api::lockouts;
use crate::api::policy::{GreylistKey, edit_greylist, greylist_action};
use crate::context::AdminContext;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use mailroom_shared::msg::GreylistAction;
use serde_json::Value;
use std::collections::HashMap;

/// Rows of each table on the page.
const ROWS: u32 = 100;

/// A JSON field as text (empty when missing or null).
fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub(super) async fn policy_page(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("q").cloned())
        .unwrap_or_default();
    let search = q.clone();
    let read = async {
        Ok::<_, mailroom_store::StoreError>((
            ctx.db.greylist_entries(&search, ROWS).await?,
            ctx.db.recent_events("rejected", ROWS).await?,
            ctx.db.spam_decisions(ROWS).await?,
        ))
    }
    .await;
    let (grey, rejected, spam) = match read {
        Ok(r) => r,
        Err(e) => {
            return failed("Policy", Some((&caller.account.address, &csrf)), e, "");
        }
    };
    let locks = match lockouts::rows(&ctx).await {
        Ok(r) => r,
        Err(e) => {
            return failed("Policy", Some((&caller.account.address, &csrf)), e, "");
        }
    };
    let lock_rows: Vec<Vec<String>> = locks
        .iter()
        .map(|l| {
            vec![
                esc(l.scope),
                esc(&l.target),
                l.failures.to_string(),
                if l.locked { "locked" } else { "counting" }.into(),
                when(l.until),
                format!(
                    "<form method=\"post\" action=\"/policy/lockouts/lift\" class=\"inline\">{}\
                     <input type=\"hidden\" name=\"target\" value=\"{}\"><button>Lift</button></form>",
                    csrf_field(&csrf),
                    esc(&l.target)
                ),
            ]
        })
        .collect();
    let back_to = format!("/policy?q={}", seg(&q));
    let grey_rows: Vec<Vec<String>> = grey
        .iter()
        .map(|g| {
            let key = format!(
                "{}<input type=\"hidden\" name=\"net\" value=\"{}\"><input type=\"hidden\" name=\"sender\" value=\"{}\">\
                 <input type=\"hidden\" name=\"recipient\" value=\"{}\"><input type=\"hidden\" name=\"back\" value=\"{}\">",
                csrf_field(&csrf),
                esc(&g.net),
                esc(&g.sender),
                esc(&g.recipient),
                esc(&back_to)
            );
            let whitelist = if g.passed_at.is_some() {
                String::new()
            } else {
                format!(
                    "<form method=\"post\" action=\"/policy/greylist/whitelist\" class=\"inline\">{key}<button>Whitelist</button></form>"
                )
            };
            vec![
                esc(&g.net),
                esc(if g.sender.is_empty() { "<>" } else { &g.sender }),
                esc(&g.recipient),
                when(g.first_seen),
                when(g.last_seen),
                g.passed_at.map(when).unwrap_or_else(|| "pending".into()),
                g.count.to_string(),
                format!(
                    "{whitelist}<form method=\"post\" action=\"/policy/greylist/delete\" class=\"inline\">{key}<button>Delete</button></form>"
                ),
            ]
        })
        .collect();
    let rejected_rows: Vec<Vec<String>> = rejected
        .iter()
        .map(|(_, at, body)| {
            let e: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            vec![
                when(*at),
                esc(&text(&e, "client")),
                esc(&text(&e, "stage")),
                esc(&text(&e, "code")),
                esc(&text(&e, "reason")),
                esc(&text(&e, "mail_from")),
                esc(&text(&e, "rcpt_to")),
            ]
        })
        .collect();
    let spam_rows: Vec<Vec<String>> = spam
        .iter()
        .map(|d| {
            let rules: Value = serde_json::from_str(&d.rules_json).unwrap_or(Value::Null);
            let fired: Vec<String> = rules
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| format!("{} ({})", text(r, "name"), text(r, "score")))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                when(d.at),
                esc(&d.account),
                format!("{:.2}", d.score),
                esc(&d.action),
                esc(&fired.join(", ")),
            ]
        })
        .collect();
    let body = format!(
        "<h2>Lockouts</h2><p>Failed logins counted by the login guard on every protocol (SMTP, IMAP, \
         POP3, panel, API); a run that reaches its threshold refuses logins until it ends or is lifted.</p>{}\
         <h2>Greylist</h2><form method=\"get\" action=\"/policy\"><label>Search <input name=\"q\" value=\"{}\" \
         placeholder=\"network, sender or recipient\"></label> <button>Search</button></form>{}\
         <h2>Recent rejections</h2>{}<h2>Spam decisions</h2>{}",
        table(
            &[
                "Scope",
                "Account or client",
                "Failures",
                "State",
                "Until (UTC)",
                ""
            ],
            &lock_rows
        ),
        esc(&q),
        table(
            &[
                "Network",
                "Sender",
                "Recipient",
                "First seen",
                "Last seen",
                "Passed",
                "Attempts",
                ""
            ],
            &grey_rows
        ),
        table(
            &[
                "At (UTC)",
                "Client",
                "Stage",
                "Code",
                "Reason",
                "Sender",
                "Recipient"
            ],
            &rejected_rows
        ),
        table(
            &["At (UTC)", "Account", "Score", "Action", "Rules that fired"],
            &spam_rows
        ),
    );
    html(
        StatusCode::OK,
        page(
            "Policy",
            Some((&caller.account.address, &csrf)),
            notice(&req).as_ref(),
            &body,
        ),
    )
}

pub(super) async fn greylist_edit(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    action: web::Path<String>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    // Only back to the policy page, whatever the form says.
    let to = match field(&form, "back") {
        b if b.starts_with("/policy") && !b.contains("//") => b.to_string(),
        _ => "/policy".to_string(),
    };
    let key = GreylistKey {
        net: field(&form, "net").into(),
        sender: field(&form, "sender").into(),
        recipient: field(&form, "recipient").into(),
    };
    let done = async {
        let action = greylist_action(&action)?;
        let key = key.checked()?;
        edit_greylist(&ctx, &key, action).await?;
        let sender = if key.sender.is_empty() {
            "<>"
        } else {
            &key.sender
        };
        Ok(format!(
            "{}: {} from {sender} to {}",
            action_done(action),
            key.net,
            key.recipient
        ))
    }
    .await;
    back(&to, done)
}

/// The Lift button of a lockout: forget its failures on every protocol.
pub(super) async fn lockout_lift(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    let caller = match posted(&req, &ctx, &form).await {
        Ok((caller, _)) => caller,
        Err(r) => return r,
    };
    let target = field(&form, "target").to_string();
    let done = async {
        if target.is_empty() {
            return Err(crate::error::ApiError::bad_request(
                "no account or client to lift",
            ));
        }
        lockouts::lift(&ctx, &caller.account.address, target.clone()).await?;
        Ok(format!("lifted the lockout of {target}"))
    }
    .await;
    back("/policy", done)
}

fn action_done(action: GreylistAction) -> &'static str {
    match action {
        GreylistAction::Delete => "deleted the greylist entry",
        GreylistAction::Whitelist => "whitelisted",
    }
}
