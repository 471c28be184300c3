//! `/api/v1/reload`, `/stats` and `/config`: the running server as a whole.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use mailroom_shared::reload::Reload;
use mailroom_store::actor::Stats;
use serde::Serialize;
use std::time::UNIX_EPOCH;

/// Hours the dashboard's chart covers.
pub(crate) const CHART_HOURS: i64 = 48;

/// What the dashboard and `GET /stats` show.
#[derive(Serialize)]
pub(crate) struct ServerStats {
    pub version: &'static str,
    pub hostname: String,
    pub uptime_secs: u64,
    pub started_at: u64,
    pub config_generation: u64,
    pub connections_open: u32,
    pub domains: usize,
    pub accounts: usize,
    pub queue: QueueStats,
    pub store: StoreView,
    /// Per hour (unix seconds of the hour's start), for the last [`CHART_HOURS`] hours.
    pub hourly: Vec<HourView>,
}

#[derive(Serialize)]
pub(crate) struct QueueStats {
    pub queued: u64,
    pub held: u64,
}

#[derive(Serialize)]
pub(crate) struct StoreView {
    pub database_bytes: u64,
    pub message_bytes: u64,
    pub commits: u64,
    pub write_ops: u64,
}

#[derive(Serialize, Default, Clone)]
pub(crate) struct HourView {
    pub hour_start: i64,
    pub received: u64,
    pub sent: u64,
    pub rejected: u64,
    pub greylisted: u64,
    pub spam: u64,
}

/// Gather [`ServerStats`].
pub(crate) async fn gather(ctx: &AdminContext) -> Result<ServerStats, ApiError> {
    let snapshot = ctx
        .snapshot()
        .await
        .ok_or_else(|| ApiError::unavailable("the server is shutting down"))?;
    let now = unix_now();
    let first_hour = now / 3600 - (CHART_HOURS - 1);
    let domains = ctx.db.domain_list().await?.len();
    let accounts = ctx.db.user_list().await?.len();
    let sizes = ctx.db.sizes().await?;
    let counts = ctx.db.hourly_counts(first_hour * 3600).await?;
    let mut hourly: Vec<HourView> = (0..CHART_HOURS)
        .map(|i| HourView {
            hour_start: (first_hour + i) * 3600,
            ..HourView::default()
        })
        .collect();
    for c in counts {
        let Some(slot) = usize::try_from(c.hour - first_hour)
            .ok()
            .and_then(|i| hourly.get_mut(i))
        else {
            continue;
        };
        match c.what.as_str() {
            "received" => slot.received += c.count,
            "sent" => slot.sent += c.count,
            "rejected" => slot.rejected += c.count,
            "greylisted" => slot.greylisted += c.count,
            "spam" => slot.spam += c.count,
            _ => {}
        }
    }
    let writes = ctx.store.send(Stats).await.ok().and_then(Result::ok);
    Ok(ServerStats {
        version: env!("CARGO_PKG_VERSION"),
        hostname: snapshot.config.server.hostname.clone(),
        uptime_secs: ctx.started.elapsed().as_secs(),
        started_at: ctx
            .started_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        config_generation: snapshot.generation,
        connections_open: ctx.tracker.open(),
        domains,
        accounts,
        queue: QueueStats {
            queued: sizes.queued,
            held: sizes.held,
        },
        store: StoreView {
            database_bytes: sizes.database_bytes,
            message_bytes: sizes.message_bytes,
            commits: writes.map_or(0, |w| w.commits),
            write_ops: writes.map_or(0, |w| w.ops),
        },
        hourly,
    })
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) async fn stats(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(gather(&ctx).await?))
}

/// Reload as SIGHUP does: the new generation, or 422 with every problem.
pub(crate) async fn reload_now(ctx: &AdminContext) -> Result<u64, ApiError> {
    match ctx.watcher.send(Reload).await {
        Ok(Ok(generation)) => Ok(generation),
        Ok(Err(problems)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "reload refused, the running configuration stays: {}",
                problems.join("; ")
            ),
        )),
        Err(e) => Err(ApiError::unavailable(format!(
            "configuration watcher unavailable: {e}"
        ))),
    }
}

pub(crate) async fn reload(
    caller: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    let generation = reload_now(&ctx).await?;
    tracing::info!(generation, by = %caller.0.account.address, "configuration reloaded from the admin panel");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "config_generation": generation })))
}

/// The running configuration as JSON with every secret masked.
pub(crate) async fn masked_config(ctx: &AdminContext) -> Result<serde_json::Value, ApiError> {
    let snapshot = ctx
        .snapshot()
        .await
        .ok_or_else(|| ApiError::unavailable("the server is shutting down"))?;
    let mut value = serde_json::to_value(&*snapshot.config)
        .map_err(|e| ApiError::unavailable(format!("config not serialisable: {e}")))?;
    mask_secrets(&mut value);
    Ok(serde_json::json!({
        "config_generation": snapshot.generation,
        "config": value,
    }))
}

pub(crate) async fn config(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(masked_config(&ctx).await?))
}

/// Replace the value of every key that names a secret (`password`, `secret`, `token`) by a
/// mask, wherever it is.
pub(crate) fn mask_secrets(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let k = key.to_lowercase();
                if (k.contains("password") || k.contains("secret") || k.contains("token"))
                    && !v.is_null()
                {
                    *v = serde_json::Value::String("********".into());
                } else {
                    mask_secrets(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_at_any_depth() {
        let mut v = serde_json::json!({
            "outbound": { "relay_password": "hunter22", "relay_username": "me" },
            "webhooks": [{ "url": "http://x", "secret": "s3cret" }],
            "unset": { "relay_password": null }
        });
        mask_secrets(&mut v);
        assert_eq!(v["outbound"]["relay_password"], "********");
        assert_eq!(v["outbound"]["relay_username"], "me");
        assert_eq!(v["webhooks"][0]["secret"], "********");
        assert_eq!(v["webhooks"][0]["url"], "http://x");
        assert!(v["unset"]["relay_password"].is_null());
    }

    #[test]
    fn the_real_config_shows_no_secret() {
        let mut config = mailroom_config::Config::default();
        config.outbound.relay_password =
            Some(mailroom_config::RelayPassword::new("very-secret-pw"));
        let mut v = serde_json::to_value(&config).expect("serialise");
        mask_secrets(&mut v);
        assert!(!v.to_string().contains("very-secret-pw"));
    }
}
