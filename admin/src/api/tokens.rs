//! `/api/v1/tokens`: API tokens. The secret is in the answer that makes a token, and never
//! again.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_store::ApiToken;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
pub(crate) struct TokenView {
    id: i64,
    name: String,
    /// The admin account it acts as.
    account: String,
    created: i64,
    last_used: Option<i64>,
    /// Only when made.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl TokenView {
    fn new(t: ApiToken, token: Option<String>) -> Self {
        Self {
            id: t.id,
            name: t.name,
            account: t.account,
            created: t.created,
            last_used: t.last_used,
            token,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    name: String,
}

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    let tokens = ctx.db.token_list().await?;
    let views: Vec<TokenView> = tokens
        .into_iter()
        .map(|t| TokenView::new(t, None))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

pub(crate) async fn create(
    caller: ApiCaller,
    ctx: web::Data<AdminContext>,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().name;
    let address = caller.0.account.address.clone();
    let (token, secret) = ctx.db.token_create(&address, &name).await?;
    tracing::info!(token = token.id, account = %token.account, "API token created");
    Ok(HttpResponse::Created().json(TokenView::new(token, Some(secret))))
}

pub(crate) async fn remove(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    ctx.db.token_delete(id).await?;
    tracing::info!(token = id, "API token revoked");
    Ok(HttpResponse::NoContent().finish())
}
