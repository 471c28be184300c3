//! `GET /metrics`: the process's metrics registry (`mailroom_shared::metrics`) in the
//! Prometheus text exposition format, version 0.0.4, for a Prometheus scraper.
//!
//! No login: like `/healthz` it is served on the admin listener, which binds to loopback by
//! default; whoever can reach that listener can read the counts. The series carry no
//! addresses, only listener names, reasons and results.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};

/// The media type of the Prometheus text format (exposition format 0.0.4).
const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, CONTENT_TYPE_TEXT))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(mailroom_shared::metrics::metrics().encode())
}
