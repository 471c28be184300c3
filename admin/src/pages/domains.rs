//! Domains: the list, add and remove, and each domain's DNS records with the live check.

use super::html::{Notice, csrf_field, esc, page, seg, table};
use super::{Form, back, failed, field, html, notice, posted, see_other, signed_in};
use crate::api::domains;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub(super) async fn domain_list(req: HttpRequest, ctx: web::Data<AdminContext>) -> HttpResponse {
    let (caller, csrf) = match signed_in(&req, &ctx).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let list = ctx.db.domain_list().await;
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

pub(super) async fn domain_add(
    req: HttpRequest,
    ctx: web::Data<AdminContext>,
    form: Form,
) -> HttpResponse {
    if let Err(r) = posted(&req, &ctx, &form).await {
        return r;
    }
    let name = field(&form, "name").to_string();
    let done = ctx.db.domain_add(&name).await;
    match done {
        Ok(d) => see_other(&format!(
            "/domains/{}?ok={}",
            seg(&d.name),
            seg(&format!("added {}", d.name))
        )),
        Err(e) => back("/domains", Err(e.into())),
    }
}

pub(super) async fn domain_remove(
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
    let done = ctx.db.domain_remove(&name).await;
    back(
        "/domains",
        done.map(|()| format!("removed {shown}"))
            .map_err(ApiError::from),
    )
}

pub(super) async fn domain_page(
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
            return failed(&name, who, e, "<p><a href=\"/domains\">Domains</a></p>");
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
    let role_warning = role_address_warning(&ctx, &name).await;
    let body = format!(
        "{role_warning}<p>Publish these records in the DNS of <b>{}</b>. The last column is what the configured resolver sees now.</p>{}",
        esc(&name),
        table(&["Purpose", "Name", "Type", "Value", "Live check"], &rows)
    );
    html(
        StatusCode::OK,
        page(&name, who, notice(&req).as_ref(), &body),
    )
}

/// A warning naming the role addresses of `domain` that reach nobody (RFC 5321 §4.5.1:
/// postmaster@ must exist; RFC 2142 §2: abuse@ is where reports go); empty when both do.
async fn role_address_warning(ctx: &AdminContext, domain: &str) -> String {
    let d = domain.to_string();
    let missing = match ctx.db.missing_role_addresses(&d).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(domain, error = %e, "Could not check the role addresses.");
            return String::new();
        }
    };
    if missing.is_empty() {
        return String::new();
    }
    let list = missing
        .iter()
        .map(|a| format!("<code>{}</code>", esc(a)))
        .collect::<Vec<_>>()
        .join(" and ");
    format!(
        "<p class=\"notice error\" role=\"alert\" id=\"role-addresses\">No account receives mail for {list}. \
         Every domain needs postmaster@ (RFC 5321 §4.5.1), and abuse@ is where others report \
         problems (RFC 2142): <a href=\"/aliases\">add an alias</a> to an account.</p>"
    )
}
