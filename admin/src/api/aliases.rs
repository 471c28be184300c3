//! `/api/v1/aliases`: aliases and catch-alls (`@domain`).

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_store::Alias;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AliasView {
    /// `local@domain`, or `@domain` for a catch-all.
    source: String,
    /// Where its mail goes.
    targets: Vec<String>,
}

impl From<Alias> for AliasView {
    fn from(a: Alias) -> Self {
        Self {
            source: a.source,
            targets: a.targets,
        }
    }
}

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    let aliases = ctx.db.alias_list().await?;
    let views: Vec<AliasView> = aliases.into_iter().map(AliasView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

pub(crate) async fn create(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    body: web::Json<AliasView>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner();
    let alias = ctx.db.alias_add(&new.source, &new.targets).await?;
    tracing::info!(alias = %alias.source, "alias added in the admin panel");
    Ok(HttpResponse::Created().json(AliasView::from(alias)))
}

pub(crate) async fn remove(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    source: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let source = source.into_inner();
    ctx.db.alias_remove(&source).await?;
    Ok(HttpResponse::NoContent().finish())
}
