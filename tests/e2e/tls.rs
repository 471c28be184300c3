//! Implicit TLS on submissions, imaps and pop3s with the self-signed certificate made at
//! first start.

use crate::server;
use mailroom_tests::LineClient;

#[test]
fn implicit_tls_listeners_complete_a_handshake_and_greet() {
    let s = server();
    let ca = s.data_dir().join("tls/mail.example.test.selfsigned.crt");
    let mut sub = LineClient::connect_tls(s.ports.submissions, "mail.example.test", &ca)
        .expect("submissions");
    assert!(
        sub.read_line()
            .expect("greeting")
            .starts_with("220 mail.example.test ESMTP")
    );
    let mut imaps =
        LineClient::connect_tls(s.ports.imaps, "mail.example.test", &ca).expect("imaps");
    assert!(imaps.read_line().expect("greeting").starts_with("* OK "));
    assert!(imaps.cmd("a1 LOGOUT").expect("bye").starts_with("* BYE "));
    let mut pop3s =
        LineClient::connect_tls(s.ports.pop3s, "mail.example.test", &ca).expect("pop3s");
    assert!(pop3s.read_line().expect("greeting").starts_with("+OK "));
    // A plain-text client on a TLS port gets no greeting in the clear.
    let mut plain = LineClient::connect(s.ports.imaps).expect("tcp");
    plain.send("a1 CAPABILITY").expect("send");
    assert!(!plain.read_line().unwrap_or_default().starts_with("* "));
}
