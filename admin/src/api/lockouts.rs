//! `/api/v1/lockouts`: the runs of failed logins the login guard remembers (per account and
//! per client IP, from every protocol), which of them lock now, and an admin's lift of one.
//! The panel's Policy page shows and lifts them through the same functions.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_shared::login_guard::LockoutPolicy;
use serde::Serialize;

/// One remembered run of failed logins.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LockoutRow {
    /// `account` or `ip`.
    pub scope: &'static str,
    /// The account's address (as counted) or the client IP address.
    pub target: String,
    /// Failures counted.
    pub failures: u32,
    /// Unix seconds when the run is forgotten (and a lockout ends) unless another failure
    /// comes.
    pub until: i64,
    /// Whether it locks logins now, under the running `[security]` thresholds.
    pub locked: bool,
}

/// Every remembered run, oldest first.
pub(crate) async fn rows(ctx: &AdminContext) -> Result<Vec<LockoutRow>, ApiError> {
    let snapshot = ctx
        .snapshot()
        .await
        .ok_or_else(|| ApiError::unavailable("the server is shutting down"))?;
    let policy = LockoutPolicy::from_config(&snapshot.config);
    let runs = ctx.db.lockouts(&policy).await?;
    Ok(runs
        .into_iter()
        .map(|(l, locked)| LockoutRow {
            scope: l.scope.as_str(),
            target: l.key,
            failures: l.failures,
            until: l.until,
            locked,
        })
        .collect())
}

/// Lift the lockout of `target` (an account address or a client IP) on every protocol;
/// 404 if nothing is remembered for it.
pub(crate) async fn lift(ctx: &AdminContext, by: &str, target: String) -> Result<(), ApiError> {
    let shown = target.clone();
    ctx.db.lockout_clear(&target).await?;
    tracing::info!(target = %shown, by, "an admin lifted a lockout");
    Ok(())
}

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(rows(&ctx).await?))
}

pub(crate) async fn remove(
    caller: ApiCaller,
    ctx: web::Data<AdminContext>,
    target: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    lift(&ctx, &caller.0.account.address, target.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
