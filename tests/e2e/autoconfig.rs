//! Client autoconfiguration over HTTP on the admin listener: Thunderbird's
//! `config-v1.1.xml` and Outlook's POX autodiscover, for hosted domains only, with the listen
//! ports or the `[admin.public_ports]` set; and the MTA-STS policy file.

use mailroom_tests::http_get;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `POST path` with an XML `body`; the status code and the response body.
fn http_post(port: u16, path: &str, body: &str) -> (u16, String) {
    request(port, "POST", path, "autodiscover.example.test", body)
}

/// One HTTP/1.1 request with `Host: host`; the status code and the response body.
fn request(port: u16, method: &str, path: &str, host: &str, body: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    tcp.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.match_indices(&open)
        .filter_map(|(i, _)| {
            let rest = &xml[i + open.len()..];
            rest.find(&close).map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn thunderbird_gets_this_servers_listeners_for_a_hosted_domain() {
    let s = crate::users();
    let p = s.ports;
    for path in [
        "/mail/config-v1.1.xml",
        "/.well-known/autoconfig/mail/config-v1.1.xml",
    ] {
        let (status, body) = http_get(
            p.admin,
            &format!("{path}?emailaddress=alice%40Example.Test"),
        )
        .expect("get");
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            body.contains("<emailProvider id=\"example.test\">"),
            "{body}"
        );
        assert_eq!(elements(&body, "hostname"), [s.hostname.as_str(); 6]);
        let ports: Vec<String> = [
            p.imaps,
            p.imap,
            p.pop3s,
            p.pop3,
            p.submissions,
            p.submission,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(elements(&body, "port"), ports);
        assert_eq!(
            elements(&body, "socketType"),
            ["SSL", "STARTTLS", "SSL", "STARTTLS", "SSL", "STARTTLS"]
        );
        assert_eq!(elements(&body, "username"), ["alice@example.test"; 6]);
    }
    // Not hosted here, and not an address at all.
    let (status, _) = http_get(
        p.admin,
        "/mail/config-v1.1.xml?emailaddress=eve%40elsewhere.test",
    )
    .expect("get");
    assert_eq!(status, 404);
    let (status, _) =
        http_get(p.admin, "/mail/config-v1.1.xml?emailaddress=%3Cscript%3E").expect("get");
    assert_eq!(status, 400);
    // Without an address, the domain is the one the client asked at.
    let path = "/mail/config-v1.1.xml";
    let (status, body) = request(p.admin, "GET", path, "autoconfig.example.test", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<domain>example.test</domain>"), "{body}");
    assert!(!body.contains("<username>alice"), "{body}");
    let (status, _) = request(p.admin, "GET", path, "autoconfig.elsewhere.test:8080", "");
    assert_eq!(status, 404);
}

#[test]
fn outlook_autodiscover_answers_the_address_in_the_request() {
    let s = crate::users();
    let p = s.ports;
    let request = |address: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
             <Request><EMailAddress>{address}</EMailAddress>\
             <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\
             </Request></Autodiscover>"
        )
    };
    let (status, body) = http_post(
        p.admin,
        "/autodiscover/autodiscover.xml",
        &request("bob@example.test"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        elements(&body, "Type"),
        ["IMAP", "IMAP", "POP3", "POP3", "SMTP", "SMTP"]
    );
    assert_eq!(elements(&body, "Port")[0], p.imaps.to_string());
    assert_eq!(elements(&body, "Port")[5], p.submission.to_string());
    assert_eq!(elements(&body, "LoginName"), ["bob@example.test"; 6]);
    assert_eq!(elements(&body, "Server"), [s.hostname.as_str(); 6]);
    let (status, _) = http_post(
        p.admin,
        "/autodiscover/autodiscover.xml",
        &request("bob@elsewhere.test"),
    );
    assert_eq!(status, 404);
    let (status, _) = http_post(p.admin, "/autodiscover/autodiscover.xml", "<Request/>");
    assert_eq!(status, 400);
}

#[test]
fn the_mta_sts_policy_is_served_for_hosted_domains_and_follows_a_reload() {
    let s = crate::users();
    let path = "/.well-known/mta-sts.txt";
    let (status, body) = request(s.ports.admin, "GET", path, "mta-sts.example.test", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!(
            "version: STSv1\r\nmode: testing\r\nmx: {}\r\nmax_age: 604800\r\n",
            s.hostname
        )
    );
    for host in ["mta-sts.elsewhere.test", "example.test"] {
        let (status, _) = request(s.ports.admin, "GET", path, host, "");
        assert_eq!(status, 404, "{host}");
    }
    s.write_config(&s.config_toml("[admin]\nmta_sts_mode = \"enforce\"\n"))
        .expect("write config");
    s.signal("HUP").expect("SIGHUP");
    assert!(
        mailroom_tests::wait_until(Duration::from_secs(10), || {
            request(s.ports.admin, "GET", path, "mta-sts.example.test:8443", "")
                .1
                .contains("mode: enforce\r\n")
        }),
        "the reload did not change the policy"
    );
}

#[test]
fn clients_are_told_the_public_ports_where_they_are_set() {
    let s = crate::server_with("[admin.public_ports]\nimaps = 993\nsubmission = 587\n");
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    let p = s.ports;
    let (status, body) = http_get(
        p.admin,
        "/mail/config-v1.1.xml?emailaddress=alice%40example.test",
    )
    .expect("get");
    assert_eq!(status, 200, "{body}");
    let want: Vec<String> = [993, p.imap, p.pop3s, p.pop3, p.submissions, 587]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(elements(&body, "port"), want);
    let (status, body) = http_post(
        p.admin,
        "/autodiscover/autodiscover.xml",
        "<Autodiscover><Request><EMailAddress>alice@example.test</EMailAddress></Request></Autodiscover>",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(elements(&body, "Port"), want);
}
