//! `/api/v1/sessions`: open connections of every listener, and ending one.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ctx.tracker.list()))
}

pub(crate) async fn end(
    caller: ApiCaller,
    ctx: web::Data<AdminContext>,
    id: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !ctx.tracker.end(id) {
        return Err(ApiError::not_found(format!("open session {id}")));
    }
    tracing::info!(session = id, by = %caller.0.account.address, "session ended from the admin panel");
    Ok(HttpResponse::NoContent().finish())
}
