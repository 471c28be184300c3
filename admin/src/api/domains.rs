//! `/api/v1/domains`: the domains this server hosts.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

/// A hosted domain as the API shows it.
#[derive(Serialize)]
pub(crate) struct DomainView {
    name: String,
    /// DKIM selectors of its active keys.
    dkim_selectors: Vec<String>,
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
    let views = ctx
        .db
        .run(|db| {
            db.domain_list()?
                .into_iter()
                .map(|d| {
                    let dkim_selectors = db
                        .domain_dkim(&d.name)?
                        .into_iter()
                        .map(|k| k.selector)
                        .collect();
                    Ok(DomainView {
                        name: d.name,
                        dkim_selectors,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

pub(crate) async fn get(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let view = ctx.db.run(move |db| view(db, &name)).await?;
    Ok(HttpResponse::Ok().json(view))
}

fn view(db: &mailroom_store::Admin, name: &str) -> Result<DomainView, mailroom_store::StoreError> {
    let key = name.trim_end_matches('.').to_lowercase();
    let domain = db
        .domain_list()?
        .into_iter()
        .find(|d| d.name == key)
        .ok_or_else(|| mailroom_store::StoreError::NotFound(format!("domain {name}")))?;
    let dkim_selectors = db
        .domain_dkim(&domain.name)?
        .into_iter()
        .map(|k| k.selector)
        .collect();
    Ok(DomainView {
        name: domain.name,
        dkim_selectors,
    })
}

pub(crate) async fn create(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    body: web::Json<NewDomain>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().name;
    let view = ctx
        .db
        .run(move |db| {
            let d = db.domain_add(&name)?;
            view(db, &d.name)
        })
        .await?;
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
    ctx.db.run(move |db| db.domain_remove(&name)).await?;
    tracing::info!(domain = %shown, "domain removed in the admin panel");
    Ok(HttpResponse::NoContent().finish())
}
