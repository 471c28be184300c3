//! The JSON API under `/api/v1`: every operation of the panel, for scripts. Authorization is
//! [`crate::auth::ApiCaller`]'s; errors are `{"error": "…"}` ([`crate::error::ApiError`]);
//! bodies are strict (unknown fields are refused) and small. `openapi.json` describes it all.

mod accounts;
mod aliases;
mod classifier;
pub(crate) mod domains;
mod events;
pub(crate) mod lockouts;
mod messages;
pub(crate) mod openapi;
pub(crate) mod policy;
pub(crate) mod queue;
mod sessions;
pub(crate) mod system;
mod tokens;
pub(crate) mod webhooks;

use crate::error::ApiError;
use actix_web::web;

/// Largest JSON body the API reads.
const MAX_BODY: usize = 64 * 1024;

/// Mount the API on `cfg` (under `/api/v1`).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(json_config())
            .app_data(path_config())
            .app_data(query_config())
            .route("/openapi.json", web::get().to(openapi::document))
            .route("/domains", web::get().to(domains::list))
            .route("/domains", web::post().to(domains::create))
            .route("/domains/{name}", web::get().to(domains::get))
            .route("/domains/{name}", web::delete().to(domains::remove))
            .route("/domains/{name}/dns", web::get().to(domains::dns))
            .route("/sessions", web::get().to(sessions::list))
            .route("/sessions/{id}", web::delete().to(sessions::end))
            .route("/accounts", web::get().to(accounts::list))
            .route("/accounts", web::post().to(accounts::create))
            .route("/accounts/{address}", web::get().to(accounts::get))
            .route("/accounts/{address}", web::patch().to(accounts::change))
            .route("/accounts/{address}", web::delete().to(accounts::remove))
            .route(
                "/accounts/{address}/classifier",
                web::get().to(classifier::get),
            )
            .route(
                "/accounts/{address}/mailboxes",
                web::get().to(messages::mailboxes),
            )
            .route(
                "/accounts/{address}/mailboxes/{name}/messages",
                web::get().to(messages::messages),
            )
            .route(
                "/accounts/{address}/mailboxes/{name}/messages/{uid}",
                web::delete().to(messages::remove),
            )
            .route("/events", web::get().to(events::list))
            .route("/aliases", web::get().to(aliases::list))
            .route("/aliases", web::post().to(aliases::create))
            .route("/aliases/{source}", web::delete().to(aliases::remove))
            .route("/queue", web::get().to(queue::list))
            .route("/queue/{id}", web::get().to(queue::get))
            .route("/queue/{id}", web::delete().to(queue::remove))
            .route("/queue/{id}/{action}", web::post().to(queue::act))
            .route("/tokens", web::get().to(tokens::list))
            .route("/tokens", web::post().to(tokens::create))
            .route("/tokens/{id}", web::delete().to(tokens::remove))
            .route("/lockouts", web::get().to(lockouts::list))
            .route("/lockouts/{target}", web::delete().to(lockouts::remove))
            .route("/policy/rejections", web::get().to(policy::rejections))
            .route("/policy/spam", web::get().to(policy::spam))
            .route("/policy/greylist", web::get().to(policy::greylist))
            .route(
                "/policy/greylist/{action}",
                web::post().to(policy::greylist_edit),
            )
            .route("/webhooks", web::get().to(webhooks::list))
            .route("/webhooks/deliveries", web::get().to(webhooks::deliveries))
            .route("/webhooks/test", web::post().to(webhooks::test))
            .route("/reload", web::post().to(system::reload))
            .route("/stats", web::get().to(system::stats))
            .route("/config", web::get().to(system::config))
            .default_service(web::to(not_found)),
    );
}

/// A `limit` query value: `default` when absent, else a whole number from 1 to `max` (a
/// clear 400 otherwise, where serde's own error would not name the field).
pub(crate) fn limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "limit must be a whole number from 1 to {max}, not {raw:?}"
        ))),
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("no such API endpoint or method"))
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY)
        .content_type_required(true)
        .error_handler(|e, _| ApiError::bad_request(format!("bad JSON body: {e}")).into())
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|e, _| ApiError::bad_request(format!("bad path: {e}")).into())
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| ApiError::bad_request(format!("bad query: {e}")).into())
}
