//! ID (RFC 2971): in every state, with NIL or a parameter list.

use super::fixture::*;

#[actix_rt::test]
async fn id_in_every_state() {
    let mut t = session().await;
    let r = t.cmd("a ID NIL").await;
    assert!(
        r.starts_with("* ID (\"name\" \"mailroom\" \"version\" \""),
        "{r}"
    );
    assert!(r.ends_with("a OK ID completed\r\n"), "{r}");
    t.login().await;
    assert_eq!(
        t.code("b ID (\"name\" \"client\" \"version\" \"1.0\")")
            .await,
        (OK, String::new())
    );
    t.cmd("s SELECT INBOX").await;
    assert_eq!(t.code("c ID NIL").await, (OK, String::new()));
}

#[actix_rt::test]
async fn id_syntax() {
    let mut t = lenient().await;
    assert_eq!(t.code("a ID").await.0, BAD);
    assert_eq!(t.code("b ID (\"name\")").await.0, BAD);
    assert_eq!(t.code("c ID name").await.0, BAD);
}
