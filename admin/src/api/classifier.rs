//! `GET /api/v1/accounts/{address}/classifier`: how many messages the account's own spam
//! classifier has been trained on (each message a user moved into or out of Junk), read
//! through the `MailboxStore` actor.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_store::spam::ReadBayes;

pub(crate) async fn get(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    address: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let address = address.into_inner();
    let account = ctx.db.user_get(&address).await?;
    // No tokens asked: the answer is the account's trained totals alone.
    let counts = ctx
        .store
        .send(ReadBayes {
            account_ids: vec![account.id],
            tokens: Vec::new(),
        })
        .await
        .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))??;
    let (spam, ham) = counts
        .first()
        .map_or((0, 0), |(_, c)| (c.spam_messages, c.ham_messages));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "account": account.address,
        "trained_spam": spam,
        "trained_ham": ham,
    })))
}
