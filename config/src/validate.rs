//! Checks that serde cannot express: every problem is collected with its key path, so an
//! operator fixes a file in one pass instead of one error at a time.

use crate::{Config, ConfigError, ListenerKind};
use std::collections::HashMap;
use std::net::SocketAddr;

pub(crate) fn validate(config: &Config) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut err = |key: &str, message: String| {
        errors.push(ConfigError {
            key: key.to_string(),
            message,
        })
    };

    if let Err(why) = check_hostname(&config.server.hostname) {
        err("server.hostname", why);
    }
    if config.server.data_dir.as_os_str().is_empty() {
        err("server.data_dir", "must not be empty".into());
    }

    let mut seen: HashMap<SocketAddr, ListenerKind> = HashMap::new();
    for kind in ListenerKind::ALL {
        let Some(addrs) = config.listeners.get(kind) else {
            continue;
        };
        let key = format!("listeners.{kind}");
        for text in addrs.as_strs() {
            match text.parse::<SocketAddr>() {
                Err(_) => err(
                    &key,
                    format!("`{text}` is not an IP address and port such as 127.0.0.1:2525"),
                ),
                Ok(addr) => {
                    if let Some(other) = seen.insert(addr, kind) {
                        err(&key, format!("{addr} is also used by listeners.{other}"));
                    }
                }
            }
        }
    }

    match (&config.tls.cert, &config.tls.key) {
        (Some(_), None) => err("tls.key", "must be set when tls.cert is".into()),
        (None, Some(_)) => err("tls.cert", "must be set when tls.key is".into()),
        (Some(cert), Some(key)) => {
            for (name, path) in [("tls.cert", cert), ("tls.key", key)] {
                if let Err(e) = std::fs::metadata(path) {
                    err(name, format!("cannot read {}: {e}", path.display()));
                }
            }
        }
        (None, None) => {}
    }

    let limits = &config.limits;
    for (key, value) in [
        ("limits.max_message_size", limits.max_message_size),
        ("limits.max_inflight_bytes", limits.max_inflight_bytes),
        ("limits.max_recipients", u64::from(limits.max_recipients)),
        ("limits.max_connections", u64::from(limits.max_connections)),
        (
            "limits.max_connections_per_ip",
            u64::from(limits.max_connections_per_ip),
        ),
        ("limits.command_timeout_secs", limits.command_timeout_secs),
        (
            "limits.max_errors_per_session",
            u64::from(limits.max_errors_per_session),
        ),
        (
            "limits.max_sessions_per_account",
            u64::from(limits.max_sessions_per_account),
        ),
    ] {
        if value == 0 {
            err(key, "must be greater than 0".into());
        }
    }
    for (key, message) in crate::webhooks::check(&config.webhooks) {
        err(&key, message);
    }
    let delivery = &config.webhook_delivery;
    for (key, value) in [
        (
            "webhook_delivery.max_backoff_secs",
            delivery.max_backoff_secs,
        ),
        ("webhook_delivery.timeout_secs", delivery.timeout_secs),
    ] {
        if value == 0 {
            err(key, "must be greater than 0".into());
        }
    }
    if limits.max_connections_per_ip > limits.max_connections {
        err(
            "limits.max_connections_per_ip",
            format!(
                "{} is more than limits.max_connections ({})",
                limits.max_connections_per_ip, limits.max_connections
            ),
        );
    }
    let greylist = &config.greylist;
    for (key, value) in [
        ("greylist.delay_secs", greylist.delay_secs),
        ("greylist.retry_window_secs", greylist.retry_window_secs),
        ("greylist.expire_days", greylist.expire_days),
    ] {
        if value == 0 {
            err(key, "must be greater than 0".into());
        }
    }
    // Ten years: more is a typo, and day counts turned into seconds must not overflow.
    if greylist.expire_days > 3650 {
        err("greylist.expire_days", "must be at most 3650".into());
    }
    for entry in &greylist.whitelist {
        if let Err(why) = crate::Network::parse(entry) {
            err("greylist.whitelist", why);
        }
    }
    let proxy = &config.proxy_protocol;
    for entry in &proxy.trusted {
        if let Err(why) = crate::Network::parse(entry) {
            err("proxy_protocol.trusted", why);
        }
    }
    if proxy.enabled_on(ListenerKind::Admin) {
        err(
            "proxy_protocol.listeners",
            "the admin listener does not take PROXY headers".into(),
        );
    }
    if !proxy.listeners.is_empty() && proxy.trusted.is_empty() {
        err(
            "proxy_protocol.trusted",
            "must name the load balancers' networks when proxy_protocol.listeners is set: \
             every connection to those listeners would be refused"
                .into(),
        );
    }
    config.spam.check(&mut err);
    config.store.check(&mut err);
    config.cluster.check(&config.store, &mut err);
    let admin = &config.admin;
    if admin.session_idle_secs == 0 {
        err("admin.session_idle_secs", "must be greater than 0".into());
    }
    if admin.session_max_secs < admin.session_idle_secs {
        err(
            "admin.session_max_secs",
            "must be at least admin.session_idle_secs".into(),
        );
    }
    for kind in ListenerKind::ALL {
        let Some(port) = admin.public_ports.get(kind) else {
            continue;
        };
        let key = format!("admin.public_ports.{kind}");
        if port == 0 {
            err(&key, "must be a port from 1 to 65535".into());
        } else if config.listeners.get(kind).is_none() {
            err(
                &key,
                format!(
                    "is set, but listeners.{kind} is not: clients would be sent to a service this server does not run"
                ),
            );
        }
    }
    let security = &config.security;
    let locks = security.lockout_failures > 0 || security.lockout_failures_per_ip > 0;
    if locks && security.lockout_secs == 0 {
        err(
            crate::security::source_key(config, "security.lockout_secs"),
            "must be greater than 0 while lockouts are on".into(),
        );
    }
    // A minute: longer only holds a session (and a connection slot) for nothing.
    if security.auth_failure_delay_ms > 60_000 {
        err(
            crate::security::source_key(config, "security.auth_failure_delay_ms"),
            "must be at most 60000".into(),
        );
    }
    config.outbound.check(&mut err);

    for text in &config.dns.nameservers {
        if text.parse::<SocketAddr>().is_err() {
            err(
                "dns.nameservers",
                format!("`{text}` is not an IP address and port such as 127.0.0.1:53"),
            );
        }
    }
    if config.dns.timeout_ms == 0 {
        err("dns.timeout_ms", "must be greater than 0".into());
    }
    if config.dns.attempts == 0 {
        err("dns.attempts", "must be greater than 0".into());
    }
    for zone in &config.dnsbl.zones {
        if let Err(why) = check_hostname(zone.trim_end_matches('.')) {
            err("dnsbl.zones", format!("zone {why}"));
        }
    }
    errors
}

/// RFC 1035 §2.3.1 / RFC 1123 §2.1: letters, digits and hyphens in labels of at most 63
/// octets, at most 253 octets in all.
fn check_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 253 {
        return Err(format!("is {} octets long; at most 253", name.len()));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(format!("`{name}` is not a valid host name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConfigSource, ListenerAddrs, load};
    use std::io::Write;

    fn from_toml(text: &str) -> Result<Config, Vec<ConfigError>> {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(text.as_bytes()).expect("write");
        load(&ConfigSource::file_only(file.path()))
    }

    fn keys(errors: &[ConfigError]) -> Vec<&str> {
        errors.iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(validate(&Config::default()).is_empty());
    }

    #[test]
    fn file_overrides_defaults() {
        let c =
            from_toml("[server]\nhostname = \"mx.example.org\"\n[limits]\nmax_recipients = 7\n")
                .expect("valid");
        assert_eq!(c.server.hostname, "mx.example.org");
        assert_eq!(c.limits.max_recipients, 7);
        assert_eq!(c.limits.max_connections, 1000);
        // No [listeners] table: the defaults stay.
        assert_eq!(c.listeners, crate::Listeners::default());
    }

    #[test]
    fn listeners_table_replaces_defaults_and_takes_lists() {
        let c = from_toml(
            "[listeners]\nsmtp = [\"127.0.0.1:25\", \"[::1]:25\"]\nimap = \"127.0.0.1:143\"\n",
        )
        .expect("valid");
        assert_eq!(c.listeners.pop3, None);
        assert_eq!(c.listeners.admin, None);
        assert_eq!(
            c.listeners.smtp,
            Some(ListenerAddrs::Many(vec![
                "127.0.0.1:25".into(),
                "[::1]:25".into()
            ]))
        );
        assert_eq!(c.listeners.bindings().len(), 3);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let errors = from_toml(
            "[server]\nhostname = \"bad host\"\n[listeners]\nsmtp = \"nope\"\nimap = \"127.0.0.1:1\"\npop3 = \"127.0.0.1:1\"\n[tls]\ncert = \"/nonexistent/c.pem\"\n[limits]\nmax_recipients = 0\nmax_connections = 5\n[greylist]\ndelay_secs = 0\nwhitelist = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n",
        )
        .expect_err("invalid");
        let k = keys(&errors);
        for want in [
            "server.hostname",
            "listeners.smtp",
            "listeners.pop3",
            "tls.key",
            "limits.max_recipients",
            "limits.max_connections_per_ip",
            "greylist.delay_secs",
            "greylist.whitelist",
        ] {
            assert!(k.contains(&want), "{want} missing from {errors:?}");
        }
    }

    #[test]
    fn public_ports_are_read_and_checked() {
        let c = from_toml("[admin.public_ports]\nimaps = 993\nsubmission = 587\n").expect("valid");
        assert_eq!(c.admin.public_ports.get(ListenerKind::Imaps), Some(993));
        assert_eq!(c.admin.public_ports.get(ListenerKind::Imap), None);
        let errors = from_toml(
            "[listeners]\nimap = \"127.0.0.1:1143\"\n[admin.public_ports]\nimap = 0\npop3s = 995\n",
        )
        .expect_err("invalid");
        let k = keys(&errors);
        assert!(k.contains(&"admin.public_ports.imap"), "{errors:?}");
        assert!(k.contains(&"admin.public_ports.pop3s"), "{errors:?}");
        assert!(
            from_toml("[admin.public_ports]\nsmtp = 25\n").is_err(),
            "the MX port is not advertised to clients"
        );
    }

    #[test]
    fn policy_sections() {
        let c = Config::default();
        assert!(c.dns.nameservers.is_empty(), "system resolvers by default");
        assert!(c.auth.enabled);
        assert!(!c.spf.reject_fail);
        assert_eq!(c.dmarc.on_reject, crate::OnReject::Reject);
        assert!(c.dnsbl.zones.is_empty());
        let c = from_toml(
            "[dns]\nnameservers = [\"127.0.0.1:5353\", \"[::1]:53\"]\n[dmarc]\non_reject = \"quarantine\"\n[dnsbl]\nzones = [\"zen.example.org\"]\n",
        )
        .expect("valid");
        assert_eq!(c.dns.nameservers.len(), 2);
        assert_eq!(c.dmarc.on_reject, crate::OnReject::Quarantine);
        let errors = from_toml(
            "[dns]\nnameservers = [\"127.0.0.1\"]\ntimeout_ms = 0\n[dnsbl]\nzones = [\"bad zone\"]\n",
        )
        .expect_err("invalid");
        assert_eq!(
            keys(&errors),
            ["dns.nameservers", "dns.timeout_ms", "dnsbl.zones"],
            "{errors:?}"
        );
        let errors = from_toml("[dmarc]\non_reject = \"bounce\"\n").expect_err("invalid");
        assert_eq!(keys(&errors), ["dmarc.on_reject"], "{errors:?}");
    }

    #[test]
    fn proxy_protocol_is_read_and_checked() {
        let c = from_toml(
            "[proxy_protocol]\nlisteners = [\"smtp\", \"imaps\"]\ntrusted = [\"10.0.0.0/8\", \"127.0.0.1\", \"::1\"]\n",
        )
        .expect("valid");
        assert!(c.proxy_protocol.enabled_on(ListenerKind::Smtp));
        assert!(c.proxy_protocol.enabled_on(ListenerKind::Imaps));
        assert!(!c.proxy_protocol.enabled_on(ListenerKind::Imap));
        let trusted = c.proxy_protocol.trusted_networks();
        assert_eq!(trusted.len(), 3);
        assert!(trusted[0].contains("10.1.2.3".parse().unwrap()));
        // Off by default: no listener expects a header.
        let c = from_toml("").expect("valid");
        assert!(
            ListenerKind::ALL
                .iter()
                .all(|&k| !c.proxy_protocol.enabled_on(k))
        );

        let errors = from_toml(
            "[proxy_protocol]\nlisteners = [\"imap\", \"admin\"]\ntrusted = [\"10.0.0.0/33\", \"lb.example\"]\n",
        )
        .expect_err("invalid");
        assert_eq!(
            keys(&errors),
            [
                "proxy_protocol.trusted",
                "proxy_protocol.trusted",
                "proxy_protocol.listeners"
            ],
            "{errors:?}"
        );
        let errors =
            from_toml("[proxy_protocol]\nlisteners = [\"smtp\"]\n").expect_err("no trusted");
        assert_eq!(keys(&errors), ["proxy_protocol.trusted"], "{errors:?}");
        let errors =
            from_toml("[proxy_protocol]\nlisteners = [\"smtps\"]\n").expect_err("unknown listener");
        assert_eq!(keys(&errors), ["proxy_protocol.listeners.0"], "{errors:?}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let errors = from_toml("[server]\nhostnme = \"x\"\n").expect_err("unknown key");
        assert_eq!(keys(&errors), ["server.hostnme"], "{errors:?}");
        let errors = from_toml("[limits]\nmax_recipients = \"many\"\n").expect_err("type");
        assert_eq!(keys(&errors), ["limits.max_recipients"], "{errors:?}");
    }

    #[test]
    fn webhooks_are_read_as_a_list_of_tables() {
        let c = from_toml(
            "[[webhooks]]\nurl = \"http://127.0.0.1:9000/hook\"\nsecret = \"shared-secret\"\n\
             events = [\"delivered\", \"rejected\", \"greylisted\"]\n\
             [webhook_delivery]\nmax_backoff_secs = 2\n",
        )
        .expect("valid");
        assert_eq!(c.webhooks.len(), 1);
        assert_eq!(c.webhooks[0].secret.expose(), "shared-secret");
        assert_eq!(
            c.webhooks[0].events,
            ["delivered", "rejected", "greylisted"]
        );
        assert_eq!(c.webhook_delivery.max_backoff_secs, 2);
        assert_eq!(c.webhook_delivery.timeout_secs, 10);
        let errors = from_toml("[[webhooks]]\nurl = \"x\"\nsecret = \"\"\nevents = [\"nope\"]\n")
            .expect_err("invalid");
        assert_eq!(
            keys(&errors),
            [
                "webhooks[0].url",
                "webhooks[0].secret",
                "webhooks[0].events"
            ],
            "{errors:?}"
        );
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let errors = load(&ConfigSource::file_only(std::path::Path::new(
            "/nonexistent.toml",
        )))
        .expect_err("missing file");
        assert!(errors[0].message.contains("cannot read"), "{errors:?}");
    }

    #[test]
    fn spam_thresholds_and_weights_are_checked() {
        let c = from_toml("[spam]\njunk_threshold = 4.5\n[spam.weights]\nMISSING_DATE = 0.25\n")
            .expect("valid");
        assert_eq!(c.spam.junk_threshold, 4.5);
        assert_eq!(c.spam.reject_threshold, 15.0);
        assert_eq!(c.spam.weights.get("MISSING_DATE"), Some(&0.25));
        let errors = from_toml(
            "[spam]\njunk_threshold = 9.0\nreject_threshold = 8.0\n[spam.weights]\nNO_SUCH_RULE = 1.0\nHTML_ONLY = nan\n",
        )
        .expect_err("invalid");
        assert_eq!(
            keys(&errors),
            [
                "spam.reject_threshold",
                "spam.weights.HTML_ONLY",
                "spam.weights.NO_SUCH_RULE"
            ],
            "{errors:?}"
        );
        let errors = from_toml("[spam]\njunk_threshold = inf\n").expect_err("infinite");
        assert_eq!(keys(&errors), ["spam.junk_threshold"], "{errors:?}");
    }

    #[test]
    fn hostnames() {
        assert!(check_hostname("mail.example.test").is_ok());
        assert!(check_hostname("localhost").is_ok());
        assert!(check_hostname("-a.example").is_err());
        assert!(check_hostname("a..b").is_err());
        assert!(check_hostname(&"a".repeat(64)).is_err());
    }

    #[test]
    fn outbound_errors_name_their_keys() {
        let errors = from_toml(
            "[outbound]\nmx_port = 0\nrelay = \"nohost\"\nrelay_username = \"u\"\n\
             retry_schedule_secs = []\njitter_percent = 150\nmax_connections_per_domain = 0\n\
             mta_sts_port = 0\nextra_ca_file = \"/nonexistent/roots.pem\"\n",
        )
        .expect_err("invalid");
        let mut found = keys(&errors);
        found.sort_unstable();
        assert_eq!(
            found,
            [
                "outbound.extra_ca_file",
                "outbound.jitter_percent",
                "outbound.max_connections_per_domain",
                "outbound.mta_sts_port",
                "outbound.mx_port",
                "outbound.relay",
                "outbound.relay_password",
                "outbound.retry_schedule_secs",
            ]
        );
        let ok = from_toml(
            "[outbound]\nrelay = \"smtp.example.net:587\"\nrelay_username = \"u\"\n\
             relay_password = \"p\"\n",
        )
        .expect("valid");
        assert_eq!(
            ok.outbound
                .relay_password
                .map(|p| format!("{p:?}"))
                .as_deref(),
            Some("[redacted]")
        );
        assert!(from_toml("[outbound]\nrelay_username = \"u\"\nrelay_password = \"p\"\n").is_err());
        // MTA-STS is on by default, policies from 443, no extra CAs.
        let defaults = from_toml("").expect("valid");
        assert!(defaults.outbound.mta_sts);
        assert_eq!(defaults.outbound.mta_sts_port, 443);
        assert!(defaults.outbound.extra_ca_file.is_empty());
    }
}
