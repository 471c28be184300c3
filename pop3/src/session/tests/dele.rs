//! DELE and RSET (RFC 1939 §5): marks that only QUIT turns into removals.

use super::fixture::*;

#[actix_rt::test]
async fn dele_marks_once_and_rset_unmarks_all() {
    let mut t = logged_in(2).await;
    assert_eq!(t.cmd("DELE 1").await, "+OK message 1 deleted\r\n");
    assert_eq!(t.cmd("DELE 1").await, "-ERR message 1 already deleted\r\n");
    assert_eq!(t.cmd("DELE 3").await, "-ERR no such message\r\n");
    assert_eq!(t.cmd("DELE 0").await, "-ERR no such message\r\n");
    // RFC 1939 §5: a deleted message may not be retrieved.
    assert_eq!(t.cmd("RETR 1").await, "-ERR no such message\r\n");
    assert_eq!(t.cmd("TOP 1 0").await, "-ERR no such message\r\n");
    t.cmd("DELE 2").await;
    assert_eq!(t.cmd("STAT").await, "+OK 0 0\r\n");
    let all = numbered(1).len() + numbered(2).len();
    assert_eq!(
        t.cmd("RSET").await,
        format!("+OK maildrop has 2 messages ({all} octets)\r\n")
    );
    assert_eq!(t.cmd("STAT").await, format!("+OK 2 {all}\r\n"));
    // Nothing reached the store.
    assert_eq!(t.inbox().await.1.len(), 2);
}
