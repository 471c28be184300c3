//! CAPA (RFC 2449 §5) in each state and before and after TLS.

use super::fixture::*;

fn caps(r: &str) -> Vec<String> {
    assert!(r.starts_with("+OK capability list follows\r\n"), "{r}");
    assert!(r.ends_with("\r\n.\r\n"), "{r}");
    r.lines()
        .skip(1)
        .filter(|l| *l != ".")
        .map(str::to_string)
        .collect()
}

#[actix_rt::test]
async fn plain_port_before_stls_offers_stls_and_no_credentials() {
    let mut t = plain().await;
    let c = caps(&t.cmd("CAPA").await);
    assert!(c.contains(&"STLS".into()));
    assert!(
        !c.iter().any(|l| l == "USER" || l.starts_with("SASL")),
        "{c:?}"
    );
    t.s.tls_started();
    let c = caps(&t.cmd("CAPA").await);
    assert!(!c.contains(&"STLS".into()));
    assert!(c.contains(&"USER".into()) && c.contains(&"SASL PLAIN LOGIN".into()));
}

#[actix_rt::test]
async fn the_same_list_after_login_without_stls() {
    let mut t = logged_in(0).await;
    let c = caps(&t.cmd("CAPA").await);
    for want in [
        "TOP",
        "UIDL",
        "USER",
        "SASL PLAIN LOGIN",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
    ] {
        assert!(c.contains(&want.to_string()), "{want} missing from {c:?}");
    }
    // RFC 2449 §6.5, §6.7: not advertised, since neither is enforced.
    assert!(
        !c.iter()
            .any(|l| l.starts_with("EXPIRE") || l.starts_with("LOGIN-DELAY"))
    );
    assert!(!c.contains(&"STLS".into()));
}
