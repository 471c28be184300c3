//! Webhooks end to end: a receiver in the test gets each delivered and rejected event once,
//! signed (checked with Python's hmac, independently of the server's code); with the receiver
//! down across a SIGTERM restart and a kill -9, every logged event still arrives once it is
//! back; a SIGHUP changing the secret and the filter applies to the next POST.

use crate::{python, server_with};
use mailroom_tests::{LineClient, Server, free_port, wait_until};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Request {
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

/// An HTTP receiver on 127.0.0.1 that records every request and answers 200.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind receiver");
        listener.set_nonblocking(true).expect("nonblocking");
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, st) = (got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (g, st) = (g.clone(), st.clone());
                        std::thread::spawn(move || serve(stream, &g, &st));
                    }
                    // Nothing pending: look at the stop flag again shortly.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.got
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Wait until `n` requests arrived; all of them.
    fn wait_for(&self, n: usize, s: &Server) -> Vec<Request> {
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
fn serve(stream: TcpStream, got: &Mutex<Vec<Request>>, stop: &AtomicBool) {
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
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn hook_config(port: u16, secret: &str, events: &str) -> String {
    format!(
        "[[webhooks]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{secret}\"\n\
         events = [{events}]\n\n[webhook_delivery]\nmax_backoff_secs = 1\ntimeout_secs = 5\n"
    )
}

/// Send one message to `to` (accepted) and try `nobody@example.test` (refused at RCPT).
fn mail_and_refusal(s: &Server, subject: &str) {
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

fn ids(requests: &[Request]) -> Vec<i64> {
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
