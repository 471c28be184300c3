//! The session's limits: the error budget (`limits.max_errors_per_session`), over-long
//! lines (RFC 2449 §4), the idle timeout's RFC 1939 §3 floor after login.

use std::time::Duration;

use super::fixture::*;
use crate::session::{Flow, TRANSACTION_IDLE_MINIMUM};

#[actix_rt::test]
async fn too_many_errors_close_the_session() {
    let mut c = ctx(true);
    c.limits.max_errors_per_session = 3;
    let mut t = t_with_ctx(c).await;
    assert_eq!(t.raw(b"FROB").await.1, Flow::Continue);
    assert_eq!(t.raw(b"STAT").await.1, Flow::Continue);
    let (r, flow) = t.raw(b"LIST").await;
    assert_eq!(
        (r.as_str(), flow),
        (
            "-ERR LIST is not valid in this state\r\n-ERR too many errors, closing connection\r\n",
            Flow::Close
        )
    );
}

#[actix_rt::test]
async fn an_over_long_line_is_an_error_and_ends_a_sasl_exchange() {
    let mut t = session().await;
    let mut out = Vec::new();
    assert_eq!(t.s.line_too_long(&mut out), Flow::Continue);
    assert_eq!(out, b"-ERR command line too long\r\n");
    t.cmd("AUTH PLAIN").await;
    let mut out = Vec::new();
    t.s.line_too_long(&mut out);
    assert_eq!(
        t.s.max_line(),
        crate::proto::MAX_LINE,
        "the exchange is over"
    );
    assert_eq!(t.cmd("*").await, "-ERR unknown command\r\n");
}

#[actix_rt::test]
async fn the_idle_timeout_is_at_least_ten_minutes_after_login() {
    let mut t = session().await;
    let configured = Duration::from_secs(30);
    assert_eq!(t.s.idle_timeout(configured), configured);
    t.login().await;
    assert_eq!(t.s.idle_timeout(configured), TRANSACTION_IDLE_MINIMUM);
    let long = Duration::from_secs(3600);
    assert_eq!(t.s.idle_timeout(long), long);
}
