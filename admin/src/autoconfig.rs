//! Client autoconfiguration, public on the admin listener (mail clients call it before the
//! user has logged in anywhere): Thunderbird's `config-v1.1.xml` and Outlook's "POX"
//! autodiscover, both answering with this server's `[server] hostname` and the ports of the
//! listeners that are configured.
//!
//! The XML is written here, not by a library: it is a handful of fixed elements, and every
//! value that comes from outside (the address a client asks about) goes through [`escape`].
//! Only addresses of hosted domains get an answer, so the endpoints do not describe this
//! server as the home of arbitrary domains.
//!
//! The advertised ports are the listen ports, or those of `[admin.public_ports]` for a
//! server behind port forwarding.

use crate::context::AdminContext;
use actix_web::{HttpRequest, HttpResponse, web};
use mailroom_config::{Config, ListenerKind};
use mailroom_shared::address::Address;
use mailroom_store::StoreAdmin as AdminDb;
use serde::Deserialize;
use std::fmt::Write as _;

/// Thunderbird asks `autoconfig.DOMAIN/mail/config-v1.1.xml` and then
/// `DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml`, each with `?emailaddress=`.
const THUNDERBIRD_PATHS: [&str; 2] = [
    "/mail/config-v1.1.xml",
    "/.well-known/autoconfig/mail/config-v1.1.xml",
];
/// Outlook POSTs its request to `autodiscover.DOMAIN/autodiscover/autodiscover.xml`; some
/// clients use the capitalised form.
const AUTODISCOVER_PATHS: [&str; 2] = [
    "/autodiscover/autodiscover.xml",
    "/Autodiscover/Autodiscover.xml",
];
/// An autodiscover request is a few hundred octets; a larger body is refused unread.
const MAX_REQUEST: usize = 16 * 1024;

/// Mount the autoconfig routes (no login: mail clients call them).
pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in THUNDERBIRD_PATHS {
        cfg.route(path, web::get().to(thunderbird));
    }
    for path in AUTODISCOVER_PATHS {
        cfg.service(
            web::resource(path)
                .app_data(web::PayloadConfig::new(MAX_REQUEST))
                .route(web::post().to(autodiscover))
                .route(web::get().to(autodiscover)),
        );
    }
}

/// One way in to a mailbox or out for mail, as clients are told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Which listener.
    pub kind: ListenerKind,
    /// Its (first) port.
    pub port: u16,
}

impl Endpoint {
    fn implicit(&self) -> bool {
        self.kind.implicit_tls()
    }
}

/// The configured listeners that clients use, implicit TLS before STARTTLS in each group
/// (RFC 8314 §3: implicit TLS is preferred); the MX listener is not one of them.
pub fn endpoints(config: &Config) -> Vec<Endpoint> {
    use ListenerKind as K;
    [
        K::Imaps,
        K::Imap,
        K::Pop3s,
        K::Pop3,
        K::Submissions,
        K::Submission,
    ]
    .into_iter()
    .filter_map(|kind| {
        let bound = config.listeners.get(kind)?.socket_addrs().first()?.port();
        let port = config.admin.public_ports.get(kind).unwrap_or(bound);
        Some(Endpoint { kind, port })
    })
    .collect()
}

/// `s` with the five XML special characters replaced (XML 1.0 §2.4), and control characters
/// other than tab, CR and LF dropped: they are not allowed in XML at all (§2.2).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Thunderbird's `clientConfig` document for `domain` (already known to be hosted), with the
/// login name set to `address` if one was asked about, else Thunderbird's own placeholder.
pub fn thunderbird_xml(
    hostname: &str,
    domain: &str,
    address: Option<&str>,
    eps: &[Endpoint],
) -> String {
    let host = escape(hostname);
    let domain = escape(domain);
    let user = address.map_or_else(|| "%EMAILADDRESS%".to_string(), escape);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<clientConfig version=\"1.1\">\n");
    let _ = writeln!(x, "  <emailProvider id=\"{domain}\">");
    let _ = writeln!(x, "    <domain>{domain}</domain>");
    let _ = writeln!(x, "    <displayName>{domain}</displayName>");
    let _ = writeln!(x, "    <displayShortName>{domain}</displayShortName>");
    for ep in eps {
        let (element, kind) = match ep.kind {
            ListenerKind::Imap | ListenerKind::Imaps => ("incomingServer", "imap"),
            ListenerKind::Pop3 | ListenerKind::Pop3s => ("incomingServer", "pop3"),
            _ => ("outgoingServer", "smtp"),
        };
        // Thunderbird's socketType: "SSL" is implicit TLS, "STARTTLS" the upgrade.
        let socket = if ep.implicit() { "SSL" } else { "STARTTLS" };
        let _ = writeln!(x, "    <{element} type=\"{kind}\">");
        let _ = writeln!(x, "      <hostname>{host}</hostname>");
        let _ = writeln!(x, "      <port>{}</port>", ep.port);
        let _ = writeln!(x, "      <socketType>{socket}</socketType>");
        // The password travels inside TLS only: cleartext auth is refused before it.
        x.push_str("      <authentication>password-cleartext</authentication>\n");
        let _ = writeln!(x, "      <username>{user}</username>");
        let _ = writeln!(x, "    </{element}>");
    }
    x.push_str("  </emailProvider>\n</clientConfig>\n");
    x
}

/// Outlook's POX autodiscover `Response` for `address` (MS-OXDSCLI §2.2.4): one `Protocol`
/// per endpoint.
pub fn autodiscover_xml(hostname: &str, address: &str, eps: &[Endpoint]) -> String {
    let host = escape(hostname);
    let user = escape(address);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str(
        "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n",
    );
    x.push_str(
        "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n",
    );
    x.push_str(
        "    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n",
    );
    for ep in eps {
        let kind = match ep.kind {
            ListenerKind::Imap | ListenerKind::Imaps => "IMAP",
            ListenerKind::Pop3 | ListenerKind::Pop3s => "POP3",
            _ => "SMTP",
        };
        // `Encryption` overrides `SSL`: "SSL" is implicit TLS, "TLS" is STARTTLS.
        let encryption = if ep.implicit() { "SSL" } else { "TLS" };
        x.push_str("      <Protocol>\n");
        let _ = writeln!(x, "        <Type>{kind}</Type>");
        let _ = writeln!(x, "        <Server>{host}</Server>");
        let _ = writeln!(x, "        <Port>{}</Port>", ep.port);
        let _ = writeln!(x, "        <LoginName>{user}</LoginName>");
        x.push_str("        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n");
        let _ = writeln!(x, "        <Encryption>{encryption}</Encryption>");
        x.push_str("        <AuthRequired>on</AuthRequired>\n      </Protocol>\n");
    }
    x.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    x
}

/// The text of the first `<EMailAddress>` element of an autodiscover request, with the
/// predefined entities decoded; `None` if there is none.
pub fn requested_address(body: &str) -> Option<String> {
    const OPEN: &str = "<EMailAddress>";
    let start = body.find(OPEN)? + OPEN.len();
    let len = body[start..].find("</EMailAddress>")?;
    let raw = body[start..start + len].trim();
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Whether `domain` is hosted here.
pub(crate) async fn is_hosted(db: &AdminDb, domain: String) -> Result<bool, String> {
    let domains = db.domain_list().await.map_err(|e| e.to_string())?;
    Ok(domains.iter().any(|d| d.name.eq_ignore_ascii_case(&domain)))
}

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .body(body)
}

pub(crate) fn not_found(why: &str) -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{why}\n"))
}

fn unavailable(error: &str) -> HttpResponse {
    tracing::warn!(error, "Autoconfig cannot read the hosted domains.");
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .body("store unavailable\n")
}

/// The address asked about, lowercased in its domain by the parser; an error reply if it is
/// not an address or its domain is not hosted.
async fn hosted_address(db: &AdminDb, text: &str) -> Result<Address, HttpResponse> {
    let Ok(address) = Address::parse(text) else {
        return Err(HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("not an email address\n"));
    };
    match is_hosted(db, address.domain().to_string()).await {
        Ok(true) => Ok(address),
        Ok(false) => Err(not_found("domain not hosted here")),
        Err(e) => Err(unavailable(&e)),
    }
}

#[derive(Deserialize)]
struct Query {
    emailaddress: Option<String>,
}

async fn thunderbird(
    ctx: web::Data<AdminContext>,
    query: web::Query<Query>,
    req: HttpRequest,
) -> HttpResponse {
    let Some(snapshot) = ctx.snapshot().await else {
        return unavailable("config watcher gone");
    };
    let config = &snapshot.config;
    let eps = endpoints(config);
    match query.emailaddress.as_deref().filter(|a| !a.is_empty()) {
        Some(text) => match hosted_address(&ctx.db, text).await {
            Ok(address) => xml(thunderbird_xml(
                &config.server.hostname,
                address.domain(),
                Some(&address.to_string()),
                &eps,
            )),
            Err(reply) => reply,
        },
        // No address: the domain is the one the client asked at (`autoconfig.DOMAIN` or
        // `DOMAIN`), which must be hosted too.
        None => {
            let host = req.connection_info().host().to_string();
            let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
            let domain = host
                .strip_prefix("autoconfig.")
                .unwrap_or(host)
                .to_ascii_lowercase();
            match is_hosted(&ctx.db, domain.clone()).await {
                Ok(true) => xml(thunderbird_xml(
                    &config.server.hostname,
                    &domain,
                    None,
                    &eps,
                )),
                Ok(false) => not_found("domain not hosted here"),
                Err(e) => unavailable(&e),
            }
        }
    }
}

async fn autodiscover(
    ctx: web::Data<AdminContext>,
    query: web::Query<Query>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(snapshot) = ctx.snapshot().await else {
        return unavailable("config watcher gone");
    };
    let config = &snapshot.config;
    let text = std::str::from_utf8(&body)
        .ok()
        .and_then(requested_address)
        .or_else(|| query.emailaddress.clone());
    let Some(text) = text else {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("no EMailAddress in the request\n");
    };
    match hosted_address(&ctx.db, &text).await {
        Ok(address) => xml(autodiscover_xml(
            &config.server.hostname,
            &address.to_string(),
            &endpoints(config),
        )),
        Err(reply) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailroom_config::{ListenerAddrs, Listeners};

    fn config() -> Config {
        let mut c = Config::default();
        c.server.hostname = "mail.example.test".into();
        c.listeners = Listeners {
            imaps: Some(ListenerAddrs::One("127.0.0.1:993".into())),
            imap: Some(ListenerAddrs::One("127.0.0.1:143".into())),
            submission: Some(ListenerAddrs::Many(vec![
                "127.0.0.1:587".into(),
                "[::1]:587".into(),
            ])),
            smtp: Some(ListenerAddrs::One("127.0.0.1:25".into())),
            ..Listeners::none()
        };
        c
    }

    /// The text of every `<tag>` element, in order.
    fn all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        xml.match_indices(&open)
            .filter_map(|(i, _)| {
                let rest = &xml[i + open.len()..];
                rest.find(&close).map(|end| &rest[..end])
            })
            .collect()
    }

    #[test]
    fn only_configured_client_listeners_appear_with_their_ports() {
        let eps = endpoints(&config());
        let kinds: Vec<_> = eps.iter().map(|e| (e.kind, e.port)).collect();
        assert_eq!(
            kinds,
            [
                (ListenerKind::Imaps, 993),
                (ListenerKind::Imap, 143),
                (ListenerKind::Submission, 587)
            ]
        );
    }

    #[test]
    fn public_ports_replace_the_listen_ports_clients_are_told() {
        let mut c = config();
        c.admin.public_ports.imaps = Some(10993);
        c.admin.public_ports.submission = Some(10587);
        let kinds: Vec<_> = endpoints(&c).iter().map(|e| (e.kind, e.port)).collect();
        assert_eq!(
            kinds,
            [
                (ListenerKind::Imaps, 10993),
                (ListenerKind::Imap, 143),
                (ListenerKind::Submission, 10587)
            ]
        );
    }

    #[test]
    fn thunderbird_document_lists_servers_with_socket_types() {
        let x = thunderbird_xml(
            "mail.example.test",
            "example.test",
            Some("a@example.test"),
            &endpoints(&config()),
        );
        assert!(x.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">"
        ));
        assert!(x.contains("<emailProvider id=\"example.test\">"));
        assert_eq!(all(&x, "hostname"), ["mail.example.test"; 3]);
        assert_eq!(all(&x, "port"), ["993", "143", "587"]);
        assert_eq!(all(&x, "socketType"), ["SSL", "STARTTLS", "STARTTLS"]);
        assert_eq!(all(&x, "username"), ["a@example.test"; 3]);
        assert_eq!(x.matches("<incomingServer type=\"imap\">").count(), 2);
        assert_eq!(x.matches("<outgoingServer type=\"smtp\">").count(), 1);
        assert_eq!(x.matches("</incomingServer>").count(), 2);
        assert!(x.ends_with("</emailProvider>\n</clientConfig>\n"));
        let generic = thunderbird_xml("mail.example.test", "example.test", None, &[]);
        assert!(!generic.contains("<username>"));
    }

    #[test]
    fn autodiscover_response_has_one_protocol_per_listener() {
        let x = autodiscover_xml("mail.example.test", "a@example.test", &endpoints(&config()));
        assert_eq!(all(&x, "Type"), ["IMAP", "IMAP", "SMTP"]);
        assert_eq!(all(&x, "Port"), ["993", "143", "587"]);
        assert_eq!(all(&x, "Encryption"), ["SSL", "TLS", "TLS"]);
        assert_eq!(all(&x, "LoginName"), ["a@example.test"; 3]);
        assert_eq!(all(&x, "Action"), ["settings"]);
        assert!(x.contains("<Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">"));
    }

    #[test]
    fn user_input_is_escaped() {
        assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
        let x = autodiscover_xml(
            "mail.example.test",
            "\"</LoginName><x>\"@example.test",
            &endpoints(&config()),
        );
        assert!(!x.contains("<x>"));
        assert_eq!(
            all(&x, "LoginName")[0],
            "&quot;&lt;/LoginName&gt;&lt;x&gt;&quot;@example.test"
        );
    }

    #[test]
    fn request_address_is_read_and_decoded() {
        let req = "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress> a&amp;b@example.test </EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";
        assert_eq!(requested_address(req).as_deref(), Some("a&b@example.test"));
        assert_eq!(requested_address("<Request></Request>"), None);
        assert_eq!(requested_address("<EMailAddress>unterminated"), None);
    }
}
