//! Signing, then verifying with mail-auth against the published records (offline, a seeded TXT
//! cache as the DNS) and with dkimpy.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::common::parse::TxtRecordParser as _;
use mail_auth::common::verify::DomainKey;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};
use mailroom_store::dkim::{DkimAlgorithm, DkimKey, generate};

use super::*;

struct Seeded<K, V>(Mutex<HashMap<K, V>>);

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for Seeded<K, V> {
    fn get<Q: Hash + Eq + ?Sized>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0.lock().expect("lock").get(name).cloned()
    }
    fn remove<Q: Hash + Eq + ?Sized>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0.lock().expect("lock").remove(name)
    }
    fn insert(&self, key: K, value: V, _: Instant) {
        self.0.lock().expect("lock").insert(key, value);
    }
}

const MESSAGE: &str = "From: Alice <alice@example.test>\r\n\
To: bob@remote.test\r\n\
Subject: Hello\r\n\
\x20folded\r\n\
Date: Wed, 02 Dec 2026 05:00:00 +0000\r\n\
Message-ID: <1@example.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
X-Unsigned: whatever\r\n\
\r\n\
Hi Bob,\r\n\
\r\n\
the body.\r\n";

fn keys() -> Vec<DkimKey> {
    DkimAlgorithm::ALL
        .into_iter()
        .map(|algorithm| DkimKey {
            domain: "example.test".into(),
            selector: algorithm.selector(2026),
            algorithm,
            private_key: generate(algorithm).expect("generate"),
            created: 0,
        })
        .collect()
}

/// The DNS as the published records make it.
fn dns(keys: &[DkimKey]) -> Seeded<Box<str>, Txt> {
    let txt = Seeded(Mutex::new(HashMap::new()));
    for k in keys {
        let record = DomainKey::parse(k.txt_value().expect("txt").as_bytes()).expect("record");
        txt.insert(
            k.dns_name().into_boxed_str(),
            Txt::from(record),
            Instant::now() + Duration::from_secs(3600),
        );
    }
    txt
}

/// mail-auth's result for each signature of `message`, in order.
fn verify(keys: &[DkimKey], message: &[u8]) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let txt = dns(keys);
    // No name servers at all: only the seeded cache answers.
    let auth = MessageAuthenticator::new(
        ResolverConfig::from_parts(None, vec![], vec![]),
        ResolverOpts::default(),
    )
    .expect("authenticator");
    let parsed = AuthenticatedMessage::parse(message).expect("parse");
    let outputs = runtime.block_on(auth.verify_dkim(Parameters::new(&parsed).with_txt_cache(&txt)));
    outputs
        .iter()
        .map(|o| match o.result() {
            DkimResult::Pass => "pass".to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn signed(keys: &[DkimKey], message: &str) -> Vec<u8> {
    let mut out = sign(keys, message.as_bytes()).expect("sign");
    out.extend_from_slice(message.as_bytes());
    out
}

#[test]
fn both_signatures_verify_against_the_published_records() {
    let keys = keys();
    let message = signed(&keys, MESSAGE);
    let text = String::from_utf8_lossy(&message);
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    assert!(text.contains("a=rsa-sha256") && text.contains("a=ed25519-sha256"));
    assert!(text.contains("c=relaxed/relaxed"), "{text}");
    assert!(text.contains("s=mr2026r") && text.contains("s=mr2026e"));
    assert!(text.contains("t="), "a timestamp: {text}");
    assert_eq!(verify(&keys, &message), ["pass", "pass"]);
}

#[test]
fn the_signed_fields_are_those_present_with_from_oversigned() {
    let keys = keys();
    let message = signed(&keys[1..], MESSAGE);
    let text = String::from_utf8_lossy(&message);
    let h = text
        .split(['\r', '\n', ' ', '\t'])
        .collect::<String>()
        .split(';')
        .find_map(|t| t.strip_prefix("h=").map(str::to_lowercase))
        .expect("h= tag");
    let names: Vec<&str> = h.split(':').collect();
    assert_eq!(names.iter().filter(|n| **n == "from").count(), 2, "{h}");
    for name in [
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
    ] {
        assert!(names.contains(&name), "{name} in {h}");
    }
    assert!(!names.contains(&"x-unsigned"), "{h}");
    assert!(!names.contains(&"cc"), "absent fields are not listed: {h}");
}

#[test]
fn an_added_from_breaks_the_signatures() {
    let keys = keys();
    let message = signed(&keys, MESSAGE);
    let mut forged = b"From: Mallory <m@evil.test>\r\n".to_vec();
    forged.extend_from_slice(&message);
    let results = verify(&keys, &forged);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r != "pass"), "{results:?}");
    // And the same without the prefix still passes (the check is real, not a failing setup).
    assert_eq!(verify(&keys, &message), ["pass", "pass"]);
}

#[test]
fn a_changed_body_or_signed_field_breaks_the_signatures() {
    let keys = keys();
    let message = String::from_utf8(signed(&keys, MESSAGE)).expect("utf-8");
    for (from, to) in [
        ("the body.", "the b0dy."),
        ("Subject: Hello", "Subject: Hullo"),
    ] {
        let changed = message.replace(from, to);
        assert_ne!(changed, message);
        let results = verify(&keys, changed.as_bytes());
        assert!(results.iter().all(|r| r != "pass"), "{to}: {results:?}");
    }
    // Relaxed canonicalization (RFC 6376 §3.4.4): whitespace runs inside a line and at its
    // end do not count; nor does an unsigned field.
    let relaxed = message
        .replace("Hi Bob,", "Hi \t  Bob,  ")
        .replace("X-Unsigned: whatever", "X-Unsigned: changed");
    assert_eq!(verify(&keys, relaxed.as_bytes()), ["pass", "pass"]);
}

#[test]
fn a_message_without_from_is_refused_and_no_keys_sign_nothing() {
    let keys = keys();
    let no_from = MESSAGE.replace("From: Alice <alice@example.test>\r\n", "");
    assert!(matches!(
        sign(&keys, no_from.as_bytes()),
        Err(DkimError::NoFrom)
    ));
    assert_eq!(sign(&[], MESSAGE.as_bytes()).expect("sign"), b"");
}

#[test]
fn a_broken_key_is_named_without_its_bytes() {
    let mut keys = keys();
    keys[0].private_key = DkimPrivateKey::from_pkcs8_der(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    let err = sign(&keys, MESSAGE.as_bytes()).expect_err("bad key");
    assert_eq!(
        err.to_string(),
        "DKIM key mr2026r of example.test does not parse"
    );
}

#[test]
fn the_cache_reuses_parsed_keys_and_picks_up_new_ones() {
    let signers = DkimSigners::new();
    let first = keys();
    let mut message = signers.sign(&first, MESSAGE.as_bytes()).expect("sign");
    message.extend_from_slice(MESSAGE.as_bytes());
    assert_eq!(verify(&first, &message), ["pass", "pass"]);
    // Same selectors, new key bytes (a rotation in place): the new keys must sign.
    let second = keys();
    let mut message = signers.sign(&second, MESSAGE.as_bytes()).expect("sign");
    message.extend_from_slice(MESSAGE.as_bytes());
    assert_eq!(verify(&second, &message), ["pass", "pass"]);
    let stale = verify(&first, &message);
    assert!(stale.iter().all(|r| r != "pass"), "{stale:?}");
}

/// Not a correctness test: prints what parsing costs against signing, the reason for
/// [`DkimSigners`]. `cargo test -p mailroom-smtp dkim::tests::parse_cost -- --ignored --nocapture`
#[test]
#[ignore]
fn parse_cost() {
    let keys = keys();
    let rounds = 50;
    for key in &keys {
        let start = Instant::now();
        for _ in 0..rounds {
            parse(key).expect("parse");
        }
        let parse_time = start.elapsed() / rounds;
        let signers = DkimSigners::new();
        let one = std::slice::from_ref(key);
        signers.sign(one, MESSAGE.as_bytes()).expect("warm");
        let start = Instant::now();
        for _ in 0..rounds {
            signers.sign(one, MESSAGE.as_bytes()).expect("sign");
        }
        let sign_time = start.elapsed() / rounds;
        println!(
            "{}: parse {parse_time:?}, cached sign {sign_time:?}",
            key.algorithm
        );
    }
}

/// dkimpy's verdict on every signature of a message, the DNS answered from files. Ours, so
/// that the check needs no file outside the repository (`.ci/run` installs dkimpy).
const DKIMPY: &str = r#"
import sys, dkim
msg = open(sys.argv[1], "rb").read()
records = {}
for spec in sys.argv[2:]:
    name, path = spec.split("=", 1)
    records[name.rstrip(".").lower()] = open(path, "rb").read()
def dns(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    return records.get(name.rstrip(".").lower(), b"")
head = msg.split(b"\r\n\r\n")[0]
for i in range(head.count(b"\r\nDKIM-Signature:") + head.startswith(b"DKIM-Signature:")):
    print(i, "pass" if dkim.DKIM(msg).verify(idx=i, dnsfunc=dns) else "fail")
"#;

/// An independent verifier: dkimpy (and PyNaCl for ed25519).
#[test]
fn dkimpy_verifies_our_signatures() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import dkim, nacl"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        available,
        "python3 lacks dkimpy and PyNaCl: `python3 -m pip install dkimpy pynacl` (.ci/run does)"
    );
    let keys = keys();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["-c".to_string(), DKIMPY.to_string()];
    let message_path = dir.path().join("message.eml");
    args.push(message_path.display().to_string());
    for k in &keys {
        let path = dir.path().join(&k.selector);
        std::fs::write(&path, k.txt_value().expect("record")).expect("write");
        args.push(format!("{}={}", k.dns_name(), path.display()));
    }
    let run = |message: &[u8]| {
        std::fs::write(&message_path, message).expect("write");
        let out = std::process::Command::new("python3")
            .args(&args)
            .output()
            .expect("run");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let message = signed(&keys, MESSAGE);
    assert_eq!(run(&message), "0 pass\n1 pass\n");
    // Relaxed canonicalization (RFC 6376 §3.4.4) as dkimpy reads it.
    let relaxed = String::from_utf8(message.clone())
        .expect("utf-8")
        .replace("Hi Bob,", "Hi \t  Bob,  ");
    assert_eq!(run(relaxed.as_bytes()), "0 pass\n1 pass\n");
    // An added From: fails both for dkimpy too.
    let mut forged = b"From: Mallory <m@evil.test>\r\n".to_vec();
    forged.extend_from_slice(&message);
    assert_eq!(run(&forged), "0 fail\n1 fail\n");
}
