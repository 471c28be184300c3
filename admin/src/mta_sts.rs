//! The MTA-STS policy (RFC 8461 §3.2) at `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`,
//! public on the admin listener like autoconfig: senders fetch it to learn that mail for
//! DOMAIN must go over TLS to this server's hostname. The DNS records page gives the
//! `_mta-sts` TXT record whose `id` names this exact policy text.
//!
//! Senders fetch it over HTTPS on port 443 with a certificate valid for `mta-sts.DOMAIN`,
//! so in practice the admin listener (with `[admin] tls`) or a proxy in front of it serves
//! that name. Only hosted domains get a policy.

use crate::autoconfig::{is_hosted, not_found};
use crate::context::AdminContext;
use actix_web::{HttpRequest, HttpResponse, web};
use mailroom_config::MtaStsMode;

/// The path senders fetch (RFC 8461 §3.3).
pub const PATH: &str = "/.well-known/mta-sts.txt";
/// How long senders may cache the policy: a week (RFC 8461 §3.2 suggests weeks).
pub const MAX_AGE_SECS: u64 = 7 * 24 * 3600;

/// Mount the policy route (no login: sending servers call it).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(policy_file));
}

/// The policy text for a server called `hostname` (RFC 8461 §3.2: `key: value` lines).
pub fn policy(hostname: &str, mode: MtaStsMode) -> String {
    let mode = match mode {
        MtaStsMode::Enforce => "enforce",
        MtaStsMode::Testing => "testing",
        MtaStsMode::None => "none",
    };
    format!(
        "version: STSv1\r\nmode: {mode}\r\nmx: {}\r\nmax_age: {MAX_AGE_SECS}\r\n",
        hostname.trim_end_matches('.').to_ascii_lowercase()
    )
}

async fn policy_file(ctx: web::Data<AdminContext>, req: HttpRequest) -> HttpResponse {
    let Some(snapshot) = ctx.snapshot().await else {
        return HttpResponse::ServiceUnavailable().body("shutting down\n");
    };
    let host = req.connection_info().host().to_ascii_lowercase();
    let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    let Some(domain) = host.strip_prefix("mta-sts.") else {
        return not_found("the MTA-STS policy is served for the host mta-sts.DOMAIN");
    };
    match is_hosted(&ctx.db, domain.to_string()).await {
        // RFC 8461 §3.2: the media type is text/plain.
        Ok(true) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(policy(
                &snapshot.config.server.hostname,
                snapshot.config.admin.mta_sts_mode,
            )),
        Ok(false) => not_found("domain not hosted here"),
        Err(e) => {
            tracing::warn!(error = %e, "MTA-STS cannot read the hosted domains.");
            HttpResponse::ServiceUnavailable().body("store unavailable\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_mx_and_its_mode() {
        assert_eq!(
            policy("Mail.Example.TEST.", MtaStsMode::Enforce),
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 604800\r\n"
        );
        assert!(policy("mx.test", MtaStsMode::Testing).contains("mode: testing\r\n"));
    }
}
