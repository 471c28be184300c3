//! The live check of a domain's DNS records against the harness's DNS server: each record
//! comes out found, missing or wrong.

use mailroom_admin::dns_records::{DnsRecord, RecordStatus, check, records};
use mailroom_store::dkim::{DkimAlgorithm, DkimKey, generate};
use mailroom_tests::DnsServer;

fn status_of<'a>(
    checked: &'a [(DnsRecord, RecordStatus)],
    name: &str,
    rtype: &str,
) -> &'a RecordStatus {
    &checked
        .iter()
        .find(|(r, _)| r.name == name && r.rtype == rtype)
        .unwrap_or_else(|| panic!("no {rtype} record {name} in {checked:?}"))
        .1
}

#[test]
fn published_records_are_found_missing_or_wrong() {
    let dns = DnsServer::start().expect("dns");
    let key = DkimKey {
        domain: "example.test".into(),
        selector: "ed2026".into(),
        algorithm: DkimAlgorithm::Ed25519Sha256,
        private_key: generate(DkimAlgorithm::Ed25519Sha256).expect("key"),
        created: 0,
    };
    let config = mailroom_config::Config::default();
    let want = records(
        "example.test",
        "mail.example.test",
        std::slice::from_ref(&key),
        &config,
    );

    // Published right: MX (other case, trailing dot), SPF among other TXT, the DKIM key
    // split over strings, an SRV with its own priority and weight, the autoconfig CNAME.
    dns.mx("example.test", 10, "MAIL.example.test.")
        .expect("mx");
    dns.txt("example.test", "google-site-verification=abc");
    dns.txt("example.test", "v=spf1 mx -all");
    dns.txt(&key.dns_name(), &key.txt_value().expect("txt"));
    dns.srv("_imaps._tcp.example.test", 5, 10, 2993, "mail.example.test")
        .expect("srv");
    dns.cname("autoconfig.example.test", "mail.example.test")
        .expect("cname");
    // Published wrong: DMARC with another policy, submission SRV on another port.
    dns.txt("_dmarc.example.test", "v=DMARC1; p=none");
    dns.srv(
        "_submission._tcp.example.test",
        0,
        1,
        25,
        "mail.example.test",
    )
    .expect("srv");
    // Everything else is missing.

    let resolver = mailroom_shared::dns::Dns::build(&mailroom_config::Dns {
        nameservers: vec![dns.addr().to_string()],
        timeout_ms: 1000,
        ..Default::default()
    })
    .expect("resolver");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let checked = runtime.block_on(check(resolver.resolver(), &want));
    assert_eq!(checked.len(), want.len());

    for (name, rtype) in [
        ("example.test", "MX"),
        ("example.test", "TXT"),
        ("ed2026._domainkey.example.test", "TXT"),
        ("_imaps._tcp.example.test", "SRV"),
        ("autoconfig.example.test", "CNAME"),
    ] {
        assert_eq!(
            status_of(&checked, name, rtype),
            &RecordStatus::Found,
            "{name} {rtype}"
        );
    }
    assert_eq!(
        status_of(&checked, "_dmarc.example.test", "TXT"),
        &RecordStatus::Wrong {
            found: vec!["v=DMARC1; p=none".into()]
        }
    );
    assert_eq!(
        status_of(&checked, "_submission._tcp.example.test", "SRV"),
        &RecordStatus::Wrong {
            found: vec!["0 1 25 mail.example.test".into()]
        }
    );
    for (name, rtype) in [
        ("_mta-sts.example.test", "TXT"),
        ("mta-sts.example.test", "CNAME"),
        ("_smtp._tls.example.test", "TXT"),
        ("_autodiscover._tcp.example.test", "SRV"),
        ("_pop3s._tcp.example.test", "SRV"),
    ] {
        assert_eq!(
            status_of(&checked, name, rtype),
            &RecordStatus::Missing,
            "{name} {rtype}"
        );
    }
}
