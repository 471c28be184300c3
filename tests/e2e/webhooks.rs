//! Webhooks end to end: a receiver in the test gets each delivered and rejected event once,
//! signed (checked with Python's hmac, independently of the server's code); with the receiver
//! down across a SIGTERM restart and a kill -9, every logged event still arrives once it is
//! back; a SIGHUP changing the secret and the filter applies to the next POST. The admin API
//! and page show each target's progress, its POSTs and failures, and send test events.

use crate::api::{ADMIN, ADMIN_PASSWORD, assert_error, basic, call, call_as};
use crate::panel::{csrf_of, post_form, sign_in};
use crate::{python, server_with};
use mailroom_tests::{LineClient, Server, free_port, http_request, wait_until};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// An HTTP receiver on 127.0.0.1 that records every request and answers 200 (or the status
/// set with [`Receiver::answer`]).
pub(crate) struct Receiver {
    pub(crate) port: u16,
    got: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub(crate) fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind receiver");
        listener.set_nonblocking(true).expect("nonblocking");
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(AtomicU16::new(200));
        let (g, st, code) = (got.clone(), stop.clone(), status.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (g, st, code) = (g.clone(), st.clone(), code.clone());
                        std::thread::spawn(move || serve(stream, &g, &st, &code));
                    }
                    // Nothing pending: look at the stop flag again shortly.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            got,
            status,
            stop,
            thread: Some(thread),
        }
    }

    /// Answer every request from now on with `status`.
    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.got
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Wait until `n` requests arrived; all of them.
    pub(crate) fn wait_for(&self, n: usize, s: &Server) -> Vec<Request> {
        let arrived = wait_until(Duration::from_secs(20), || self.requests().len() >= n);
        let got = self.requests();
        assert!(
            arrived,
            "got {} of {n} requests: {got:#?}\nlog:\n{}",
            got.len(),
            s.log()
        );
        got
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer HTTP/1.1 requests on one connection until it closes or the receiver stops.
fn serve(stream: TcpStream, got: &Mutex<Vec<Request>>, stop: &AtomicBool, status: &AtomicU16) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    'requests: while !stop.load(Ordering::SeqCst) {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => continue, // read timeout: check the stop flag
        }
        if !line.starts_with("POST ") {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() {
                break 'requests;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        got.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Request {
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        let head = format!(
            "HTTP/1.1 {} Test\r\ncontent-length: 0\r\n\r\n",
            status.load(Ordering::SeqCst)
        );
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
}

pub(crate) fn hook_config(port: u16, secret: &str, events: &str) -> String {
    format!(
        "[[webhooks]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{secret}\"\n\
         events = [{events}]\n\n[webhook_delivery]\nmax_backoff_secs = 1\ntimeout_secs = 5\n"
    )
}

/// Send one message to `to` (accepted) and try `nobody@example.test` (refused at RCPT).
pub(crate) fn mail_and_refusal(s: &Server, subject: &str) {
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    c.read_line().expect("greeting");
    c.send("EHLO client.example.org").expect("ehlo");
    c.read_until(|l| l.starts_with("250 ")).expect("ehlo reply");
    assert!(
        c.cmd("MAIL FROM:<sender@example.org>")
            .expect("mail")
            .starts_with("250")
    );
    assert!(
        c.cmd("RCPT TO:<alice@example.test>")
            .expect("rcpt")
            .starts_with("250")
    );
    let refused = c.cmd("RCPT TO:<nobody@example.test>").expect("rcpt");
    assert!(refused.starts_with("550 5.1.1"), "{refused}");
    assert!(c.cmd("DATA").expect("data").starts_with("354"));
    let stored = c
        .cmd(&format!("Subject: {subject}\r\n\r\nhello\r\n."))
        .expect("end of data");
    assert!(stored.starts_with("250"), "{stored}");
    c.cmd("QUIT").expect("quit");
}

/// Whether `sig` is the HMAC-SHA256 of `timestamp.body` under `secret`, computed by Python.
fn python_verifies(secret: &str, r: &Request) -> bool {
    let script = format!(
        "import hmac, hashlib, sys\n\
         body = {body:?}.encode()\n\
         mac = hmac.new({secret:?}.encode(), {ts:?}.encode() + b'.' + body, hashlib.sha256)\n\
         print('ok' if hmac.compare_digest('sha256=' + mac.hexdigest(), {sig:?}) else 'bad')\n",
        body = r.body,
        ts = r.header("X-Mailroom-Timestamp").unwrap_or_default(),
        sig = r.header("X-Mailroom-Signature").unwrap_or_default(),
    );
    python(&script).trim() == "ok"
}

pub(crate) fn ids(requests: &[Request]) -> Vec<i64> {
    requests
        .iter()
        .map(|r| r.json()["id"].as_i64().expect("id"))
        .collect()
}

#[test]
fn each_event_arrives_once_signed_and_a_sighup_changes_secret_and_filter() {
    let receiver = Receiver::start(free_port());
    let s = server_with(&hook_config(
        receiver.port,
        "shared-secret",
        "\"delivered\", \"rejected\"",
    ));
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    mail_and_refusal(&s, "first");

    let got = receiver.wait_for(2, &s);
    // The refusal at RCPT is logged before the message is delivered.
    let (rejected, delivered) = (got[0].json(), got[1].json());
    assert_eq!(rejected["type"], "rejected", "{rejected}");
    assert_eq!(rejected["stage"], "rcpt");
    assert_eq!(rejected["code"], 550);
    assert_eq!(rejected["client"], "127.0.0.1");
    assert_eq!(rejected["mail_from"], "sender@example.org");
    assert_eq!(rejected["rcpt_to"], "nobody@example.test");
    assert_eq!(delivered["type"], "delivered", "{delivered}");
    assert_eq!(delivered["envelope"]["mail_from"], "sender@example.org");
    assert_eq!(
        delivered["envelope"]["rcpt_to"],
        serde_json::json!(["alice@example.test"])
    );
    assert_eq!(
        delivered["recipients"],
        serde_json::json!(["alice@example.test"])
    );
    let stored = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(delivered["size"], stored[0].len() as u64);
    let id = delivered["message_id"].as_str().expect("message id");
    let received = String::from_utf8_lossy(&stored[0]).into_owned();
    assert!(
        received.contains(&format!("id {id}")),
        "{id} not in {received}"
    );
    for r in &got {
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(
            r.header("X-Mailroom-Event-Id"),
            Some(r.json()["id"].to_string().as_str())
        );
        assert!(r.json()["timestamp"].as_i64().is_some());
        assert!(python_verifies("shared-secret", r), "bad signature: {r:?}");
    }

    // SIGHUP: a new secret, and only refusals.
    s.write_config(&s.config_toml(&hook_config(receiver.port, "new-secret", "\"rejected\"")))
        .expect("config");
    s.signal("HUP").expect("hup");
    assert!(
        wait_until(Duration::from_secs(10), || s
            .log()
            .contains("configuration reloaded")),
        "no reload; log:\n{}",
        s.log()
    );
    mail_and_refusal(&s, "second");
    let got = receiver.wait_for(3, &s);
    let third = got[2].json();
    assert_eq!(third["type"], "rejected", "{third}");
    assert!(python_verifies("new-secret", &got[2]), "{:?}", got[2]);
    assert!(!python_verifies("shared-secret", &got[2]));
    // The second delivery was logged after that refusal; events go out in id order, so had
    // the filter let it through it would come before the next refusal.
    mail_and_refusal(&s, "third");
    let got = receiver.wait_for(4, &s);
    assert_eq!(got[3].json()["type"], "rejected");
    let all = ids(&got);
    assert_eq!(
        all.len(),
        all.iter().collect::<BTreeSet<_>>().len(),
        "duplicates: {all:?}"
    );
    assert_eq!(got.len(), 4, "{got:#?}");
}

#[test]
fn with_the_receiver_down_across_restarts_every_event_still_arrives() {
    let port = free_port();
    let mut s = server_with(&hook_config(port, "k", "\"delivered\", \"rejected\""));
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    mail_and_refusal(&s, "before sigterm");
    assert!(
        wait_until(Duration::from_secs(10), || s
            .log()
            .contains("Webhook POST failed")),
        "no attempt; log:\n{}",
        s.log()
    );

    // A clean restart while the receiver is down.
    s.signal("TERM").expect("term");
    assert!(
        s.wait_exit(Duration::from_secs(15)).is_some(),
        "did not stop"
    );
    s.spawn().expect("restart");
    mail_and_refusal(&s, "after sigterm");

    // A crash: the events were logged with the mail, so a kill -9 loses none.
    s.signal("KILL").expect("kill");
    assert!(
        s.wait_exit(Duration::from_secs(15)).is_some(),
        "did not die"
    );
    s.spawn().expect("restart after kill");
    mail_and_refusal(&s, "after kill");

    let logged: BTreeSet<i64> = s.event_ids().expect("event log").into_iter().collect();
    assert_eq!(
        logged.len(),
        6,
        "three deliveries and three refusals: {logged:?}"
    );
    let receiver = Receiver::start(port);
    let got = receiver.wait_for(6, &s);
    let received = ids(&got);
    assert_eq!(
        received.iter().copied().collect::<BTreeSet<_>>(),
        logged,
        "{received:?}"
    );
    // In order, each once: nothing was acknowledged while the receiver was down.
    assert_eq!(received, logged.iter().copied().collect::<Vec<_>>());
    assert!(got.iter().all(|r| python_verifies("k", r)));
}

/// `text` for a URL's query.
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The one target `GET /api/v1/webhooks` lists.
fn the_target(s: &Server) -> serde_json::Value {
    let a = call(s, "GET", "/api/v1/webhooks", None);
    assert_eq!(a.status, 200, "{a:?}");
    let list = a.json().expect("JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    list[0].clone()
}

fn deliveries(s: &Server, query: &str) -> mailroom_tests::HttpAnswer {
    call(
        s,
        "GET",
        &format!("/api/v1/webhooks/deliveries?{query}"),
        None,
    )
}

/// `POST /api/v1/webhooks/test` with `body`, as the admin.
fn send_test(s: &Server, body: serde_json::Value) -> mailroom_tests::HttpAnswer {
    call(s, "POST", "/api/v1/webhooks/test", Some(body))
}

fn tests_received(receiver: &Receiver) -> Vec<Request> {
    receiver
        .requests()
        .into_iter()
        .filter(|r| r.json()["type"] == "test")
        .collect()
}

#[test]
fn the_api_and_the_page_show_each_target_its_deliveries_and_failures_and_send_test_events() {
    let receiver = Receiver::start(free_port());
    let url = format!("http://127.0.0.1:{}/hook", receiver.port);
    let s = server_with(&format!(
        "[security]\nauth_failure_delay_ms = 10\n\n{}",
        hook_config(receiver.port, "api-secret", "\"delivered\", \"rejected\"")
    ));
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    s.add_admin(ADMIN, ADMIN_PASSWORD).expect("admin");
    mail_and_refusal(&s, "first");
    let sent = ids(&receiver.wait_for(2, &s));

    // Listed with its filter and progress, never its secret.
    assert!(
        wait_until(Duration::from_secs(10), || the_target(&s)["backlog"] == 0),
        "{}",
        the_target(&s)
    );
    let listed = call(&s, "GET", "/api/v1/webhooks", None);
    assert!(!listed.body.contains("api-secret") && !listed.body.contains("secret"));
    let t = the_target(&s);
    assert_eq!(t["url"], url.as_str());
    assert_eq!(t["events"], serde_json::json!(["delivered", "rejected"]));
    assert_eq!(t["cursor"], t["last_event_id"]);
    assert_eq!(t["cursor"].as_i64(), sent.iter().max().copied(), "{t}");
    assert_eq!(t["last_delivery"]["status"], 200, "{t}");
    assert_eq!(t["last_delivery"]["delivered"], true);
    assert_eq!(t["last_failure"], serde_json::Value::Null);
    assert_eq!(t["consecutive_failures"], 0);

    // Its POSTs, newest first.
    let q = format!("url={}", query_escape(&url));
    let d = deliveries(&s, &q);
    assert_eq!(d.status, 200, "{d:?}");
    let d = d.json().expect("JSON");
    let got: Vec<i64> = d
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["event_id"].as_i64().expect("event id"))
        .collect();
    assert_eq!(got, sent.iter().rev().copied().collect::<Vec<_>>(), "{d}");
    for a in d.as_array().expect("array") {
        assert_eq!(a["delivered"], true, "{a}");
        assert_eq!(a["status"], 200);
        assert_eq!(a["attempt"], 1);
        assert_eq!(a["error"], serde_json::Value::Null);
    }
    assert_eq!(d[0]["event_type"], "delivered");
    assert_eq!(d[1]["event_type"], "rejected");
    let one = deliveries(&s, &format!("{q}&limit=1"))
        .json()
        .expect("JSON");
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_error(&deliveries(&s, &format!("{q}&limit=0")), 400, "limit");
    assert_error(&deliveries(&s, &format!("{q}&limit=501")), 400, "limit");
    assert_error(&deliveries(&s, &format!("{q}&limit=many")), 400, "limit");
    assert_error(&deliveries(&s, "limit=5"), 400, "url is required");
    assert_error(&deliveries(&s, &format!("{q}&colour=red")), 400, "colour");
    assert_error(
        &deliveries(&s, "url=http%3A%2F%2F127.0.0.1%3A1%2Fnope"),
        404,
        "no webhook target",
    );

    // The receiver fails: each try is recorded, the event waits, the target shows failing.
    receiver.answer(503);
    mail_and_refusal(&s, "while failing");
    assert!(
        wait_until(
            Duration::from_secs(20),
            || the_target(&s)["consecutive_failures"].as_u64().unwrap_or(0) >= 2
        ),
        "{}",
        the_target(&s)
    );
    let t = the_target(&s);
    assert_eq!(t["last_failure"]["status"], 503, "{t}");
    assert_eq!(t["last_failure"]["delivered"], false);
    assert!(
        t["last_failure"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("503"),
        "{t}"
    );
    assert!(t["backlog"].as_i64().unwrap_or(0) >= 1, "{t}");
    let d = deliveries(&s, &q).json().expect("JSON");
    assert_eq!(d[0]["delivered"], false, "{d}");
    assert_eq!(
        d[0]["event_id"], d[1]["event_id"],
        "the same event retried: {d}"
    );
    assert!(d[0]["attempt"].as_u64() > d[1]["attempt"].as_u64(), "{d}");

    // A test event reports the receiver's answer, whatever it is.
    let failed = send_test(&s, serde_json::json!({ "url": url }));
    assert_eq!(failed.status, 200, "{failed:?}");
    let failed = failed.json().expect("JSON");
    assert_eq!(failed["delivered"], false, "{failed}");
    assert_eq!(failed["status"], 503);
    receiver.answer(200);
    let ok = send_test(&s, serde_json::json!({ "url": url }));
    assert_eq!(ok.status, 200, "{ok:?}");
    let ok = ok.json().expect("JSON");
    assert_eq!(ok["delivered"], true, "{ok}");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["event_type"], "test");
    let tests = tests_received(&receiver);
    assert_eq!(tests.len(), 2, "{tests:#?}");
    let test = &tests[1];
    assert_eq!(test.json()["id"], 0);
    assert_eq!(test.header("X-Mailroom-Event-Id"), Some("0"));
    assert!(python_verifies("api-secret", test), "{test:?}");

    // Back to healthy: the waiting events go out and the backlog empties; tests are not
    // deliveries of the log.
    assert!(
        wait_until(Duration::from_secs(20), || {
            let t = the_target(&s);
            t["backlog"] == 0 && t["consecutive_failures"] == 0
        }),
        "{}",
        the_target(&s)
    );
    let d = deliveries(&s, &format!("{q}&limit=500"))
        .json()
        .expect("JSON");
    assert!(
        d.as_array()
            .expect("array")
            .iter()
            .all(|a| a["event_id"] != 0 && a["event_type"] != "test"),
        "{d}"
    );
    let logged: BTreeSet<i64> = s.event_ids().expect("events").into_iter().collect();
    let delivered: BTreeSet<i64> = receiver
        .requests()
        .iter()
        .map(|r| r.json()["id"].as_i64().expect("id"))
        .filter(|id| *id != 0)
        .collect();
    assert_eq!(delivered, logged);

    // Bad requests change nothing and send nothing.
    for bad in [
        serde_json::json!({}),
        serde_json::json!({ "url": url, "secret": "x" }),
        serde_json::json!({ "url": 5 }),
    ] {
        assert_error(&send_test(&s, bad), 400, "bad JSON body");
    }
    assert_error(
        &send_test(&s, serde_json::json!({ "url": " " })),
        400,
        "url is required",
    );
    assert_error(
        &send_test(&s, serde_json::json!({ "url": "http://127.0.0.1:1/other" })),
        404,
        "no webhook target",
    );
    let anonymous =
        http_request(s.ports.admin, "GET", "/api/v1/webhooks", &[], None).expect("HTTP");
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let wrong = call_as(
        &s,
        &basic(ADMIN, "wrong-password"),
        "POST",
        "/api/v1/webhooks/test",
        Some(serde_json::json!({ "url": url })),
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(tests_received(&receiver).len(), 2);

    // The page lists the target and its POSTs; its button sends a test event (with the
    // session's CSRF token only).
    let (cookie, _) = sign_in(&s);
    let page = http_request(
        s.ports.admin,
        "GET",
        "/webhooks",
        &[("Cookie", &cookie)],
        None,
    )
    .expect("HTTP");
    assert_eq!(page.status, 200);
    for text in [
        url.as_str(),
        "delivered, rejected",
        "Send test event",
        "Last POSTs to",
        "receiver answered 503",
    ] {
        assert!(page.body.contains(text), "{text:?} not on the page");
    }
    assert!(!page.body.contains("api-secret"));
    let form = format!("url={}", query_escape(&url));
    let forged = post_form(&s, &cookie, "/webhooks/test", &format!("csrf=x&{form}"));
    assert_eq!(forged.status, 403);
    assert_eq!(tests_received(&receiver).len(), 2);
    let csrf = csrf_of(&page.body);
    let sent = post_form(
        &s,
        &cookie,
        "/webhooks/test",
        &format!("csrf={csrf}&{form}"),
    );
    assert_eq!(sent.status, 303, "{sent:?}");
    let to = sent.header("location").expect("location").to_string();
    assert!(
        to.starts_with("/webhooks?ok=test%20event%20delivered"),
        "{to}"
    );
    assert_eq!(tests_received(&receiver).len(), 3);
    let unknown = post_form(
        &s,
        &cookie,
        "/webhooks/test",
        &format!("csrf={csrf}&url=http%3A%2F%2F127.0.0.1%3A1%2Fx"),
    );
    let to = unknown.header("location").expect("location").to_string();
    assert!(
        to.starts_with("/webhooks?error=no%20webhook%20target"),
        "{to}"
    );
}
