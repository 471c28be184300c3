//! NAMESPACE (RFC 2342, RFC 9051 §6.3.10).

use super::fixture::*;

#[actix_rt::test]
async fn one_personal_namespace() {
    let mut t = session().await;
    t.login().await;
    assert_eq!(
        t.cmd("o NAMESPACE").await,
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\no OK NAMESPACE completed\r\n"
    );
    t.cmd("s SELECT INBOX").await;
    assert_eq!(t.code("p NAMESPACE").await, (OK, String::new()));
    assert_eq!(t.code("q NAMESPACE x").await.0, BAD);
}
