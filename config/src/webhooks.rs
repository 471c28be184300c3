//! `[[webhooks]]`: where delivery events are posted, signed with a shared secret, and which
//! kinds each receiver wants. All reloadable: targets, secrets and filters apply on SIGHUP.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The event kinds a webhook may ask for, as `shared::events::EventKind` names them (this
/// crate depends on no other mailroom crate; a test there checks that the lists agree).
pub const WEBHOOK_EVENTS: [&str; 6] = [
    "delivered",
    "rejected",
    "greylisted",
    "message_moved",
    "auth_failed",
    "locked_out",
];

/// One `[[webhooks]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://` URL that receives `POST`s of JSON events. Also the key under
    /// which delivery progress is kept, so changing it starts a new receiver at the end of
    /// the log.
    pub url: String,
    /// Shared secret for the `X-Mailroom-Signature` HMAC-SHA256.
    pub secret: WebhookSecret,
    /// Event kinds to send (see [`WEBHOOK_EVENTS`]).
    pub events: Vec<String>,
}

/// `[webhook_delivery]`: how webhook POSTs are retried. Reloadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookDelivery {
    /// Longest wait between retries of a failed POST, in seconds (the backoff doubles from
    /// about one second up to this).
    pub max_backoff_secs: u64,
    /// Seconds one POST may take, connecting included, before it counts as failed.
    pub timeout_secs: u64,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        Self {
            max_backoff_secs: 300,
            timeout_secs: 10,
        }
    }
}

/// A webhook secret: `Debug` never shows it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Problems with `webhooks[i]`, as (key, message).
pub(crate) fn check(webhooks: &[Webhook]) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for (i, hook) in webhooks.iter().enumerate() {
        let key = |field: &str| format!("webhooks[{i}].{field}");
        if let Err(why) = check_url(&hook.url) {
            errors.push((key("url"), why));
        }
        if webhooks[..i].iter().any(|other| other.url == hook.url) {
            errors.push((key("url"), format!("`{}` is listed twice", hook.url)));
        }
        if hook.secret.expose().is_empty() {
            errors.push((key("secret"), "must not be empty".into()));
        }
        if hook.events.is_empty() {
            errors.push((key("events"), "must name at least one event".into()));
        }
        for name in &hook.events {
            if !WEBHOOK_EVENTS.contains(&name.as_str()) {
                errors.push((
                    key("events"),
                    format!(
                        "`{name}` is not an event; expected one of {}",
                        WEBHOOK_EVENTS.join(", ")
                    ),
                ));
            }
        }
    }
    errors
}

/// An absolute `http://` or `https://` URL with a host.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("`{url}` must start with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return Err(format!("`{url}` has no usable host"));
    }
    if url.contains(char::is_whitespace) {
        return Err(format!("`{url}` contains white space"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str, secret: &str, events: &[&str]) -> Webhook {
        Webhook {
            url: url.into(),
            secret: WebhookSecret::new(secret),
            events: events.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn good_hooks_pass_and_each_problem_names_its_key() {
        let ok = [
            hook("http://127.0.0.1:9000/hook", "s", &["delivered"]),
            hook("https://hooks.example.org", "s", &WEBHOOK_EVENTS),
        ];
        assert!(check(&ok).is_empty(), "{:?}", check(&ok));
        let bad = [
            hook("ftp://x/", "", &[]),
            hook("http:///path", "s", &["delivered", "bounced"]),
            hook("http://a.example/", "s", &["rejected"]),
            hook("http://a.example/", "s", &["rejected"]),
        ];
        let keys: Vec<String> = check(&bad).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "webhooks[0].url",
                "webhooks[0].secret",
                "webhooks[0].events",
                "webhooks[1].url",
                "webhooks[1].events",
                "webhooks[3].url",
            ]
        );
    }

    #[test]
    fn the_secret_is_never_debug_printed() {
        let h = hook("http://a.example/", "hunter2", &["delivered"]);
        assert!(!format!("{h:?}").contains("hunter2"));
    }
}
