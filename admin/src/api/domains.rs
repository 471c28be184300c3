//! `/api/v1/domains`: the domains this server hosts.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_store::StoreAdmin;
use serde::{Deserialize, Serialize};

/// A hosted domain as the API shows it.
#[derive(Serialize)]
pub(crate) struct DomainView {
    name: String,
    /// DKIM selectors of its active keys.
    dkim_selectors: Vec<String>,
    /// Of postmaster@ and abuse@ (RFC 2142; RFC 5321 §4.5.1 requires postmaster), those that
    /// reach no account: mail to them bounces until an alias or account is added.
    missing_role_addresses: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDomain {
    name: String,
}

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    let mut views = Vec::new();
    for d in ctx.db.domain_list().await? {
        views.push(view_of(&ctx.db, d).await?);
    }
    Ok(HttpResponse::Ok().json(views))
}

pub(crate) async fn get(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let view = view(&ctx.db, &name).await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn view(db: &StoreAdmin, name: &str) -> Result<DomainView, mailroom_store::StoreError> {
    let key = name.trim_end_matches('.').to_lowercase();
    let domain = db
        .domain_list()
        .await?
        .into_iter()
        .find(|d| d.name == key)
        .ok_or_else(|| mailroom_store::StoreError::NotFound(format!("domain {name}")))?;
    view_of(db, domain).await
}

async fn view_of(
    db: &StoreAdmin,
    domain: mailroom_store::Domain,
) -> Result<DomainView, mailroom_store::StoreError> {
    let dkim_selectors = db
        .domain_dkim(&domain.name)
        .await?
        .into_iter()
        .map(|k| k.selector)
        .collect();
    let missing_role_addresses = db.missing_role_addresses(&domain.name).await?;
    Ok(DomainView {
        name: domain.name,
        dkim_selectors,
        missing_role_addresses,
    })
}

pub(crate) async fn create(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    body: web::Json<NewDomain>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().name;
    let d = ctx.db.domain_add(&name).await?;
    let view = view_of(&ctx.db, d).await?;
    tracing::info!(domain = %view.name, "domain added in the admin panel");
    Ok(HttpResponse::Created().json(view))
}

pub(crate) async fn remove(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let shown = name.clone();
    ctx.db.domain_remove(&name).await?;
    tracing::info!(domain = %shown, "domain removed in the admin panel");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DnsQuery {
    /// Also look each record up in DNS (through the configured resolver).
    check: Option<bool>,
}

/// The DNS records `name` should publish, each with what DNS has now when `check` is set.
pub(crate) async fn dns_view(
    ctx: &AdminContext,
    name: String,
    check: bool,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let snapshot = ctx
        .snapshot()
        .await
        .ok_or_else(|| ApiError::unavailable("the server is shutting down"))?;
    let d = view(&ctx.db, &name).await?;
    let keys = ctx.db.domain_dkim(&d.name).await?;
    let domain = d.name;
    let records = crate::dns_records::records(
        &domain,
        &snapshot.config.server.hostname,
        &keys,
        &snapshot.config,
    );
    let out = if check {
        crate::dns_records::check(snapshot.dns.resolver(), &records)
            .await
            .into_iter()
            .map(|(r, status)| {
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                v["check"] = serde_json::to_value(&status).unwrap_or_default();
                v
            })
            .collect()
    } else {
        records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect()
    };
    Ok(out)
}

pub(crate) async fn dns(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    name: web::Path<String>,
    query: web::Query<DnsQuery>,
) -> Result<HttpResponse, ApiError> {
    let records = dns_view(&ctx, name.into_inner(), query.check.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok().json(records))
}
