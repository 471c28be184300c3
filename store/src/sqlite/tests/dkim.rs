//! DKIM keys: made with the domain, read through the backend, given at open to domains that
//! have none, gone with the domain.

use rusqlite::Connection;

use super::*;
use crate::dkim::{DkimAlgorithm, DkimKeys};

fn keys_of(store: &SqliteBackend, domain: &str) -> Vec<crate::dkim::DkimKey> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(store.dkim_keys(DkimKeys {
            domain: domain.into(),
        }))
        .expect("keys")
}

#[test]
fn a_new_domain_has_an_rsa_and_an_ed25519_key_read_in_any_case() {
    let f = fixture();
    let keys = keys_of(&f.store, "Example.TEST.");
    let algorithms: Vec<DkimAlgorithm> = keys.iter().map(|k| k.algorithm).collect();
    assert_eq!(algorithms, DkimAlgorithm::ALL);
    for k in &keys {
        assert_eq!(k.domain, "example.test");
        assert!(k.selector.starts_with("mr"), "{}", k.selector);
        k.public_key().expect("the stored key parses");
    }
    assert_ne!(keys[0].selector, keys[1].selector);
    assert!(keys_of(&f.store, "other.test").is_empty());
    // The CLI reads the same keys.
    let admin = Admin::open(f.dir.path()).expect("admin");
    assert_eq!(admin.domain_dkim("example.test").expect("dkim"), keys);
    assert!(matches!(
        admin.domain_dkim("other.test"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn domains_without_keys_get_them_at_open_and_keep_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Admin::open(dir.path()).expect("admin"));
    // A domain from before keys existed: inserted behind the store's back.
    let conn = Connection::open(dir.path().join(DB_FILE)).expect("db");
    conn.execute("INSERT INTO domains (name) VALUES ('old.test')", [])
        .expect("insert");
    drop(conn);
    let store = SqliteBackend::open(dir.path()).expect("store");
    let keys = keys_of(&store, "old.test");
    assert_eq!(keys.len(), 2, "{keys:?}");
    drop(store);
    // A second open makes no new ones.
    let store = SqliteBackend::open(dir.path()).expect("store");
    assert_eq!(keys_of(&store, "old.test"), keys);
    drop(store);
    let conn = Connection::open(dir.path().join(DB_FILE)).expect("db");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM dkim_keys", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 2);
    // An inactive key is not used, and the domain gets a new active one with a new selector.
    conn.execute(
        "UPDATE dkim_keys SET active = 0 WHERE algorithm = 'ed25519-sha256'",
        [],
    )
    .expect("deactivate");
    drop(conn);
    let admin = Admin::open(dir.path()).expect("admin");
    let now = admin.domain_dkim("old.test").expect("dkim");
    assert_eq!(now.len(), 2);
    assert_eq!(now[0], keys[0], "the RSA key stays");
    assert_ne!(now[1].private_key, keys[1].private_key);
    assert_ne!(
        now[1].selector, keys[1].selector,
        "a selector is never reused"
    );
    assert_eq!(now[1].selector, format!("{}2", keys[1].selector));
    // Removing the domain removes its keys.
    admin.domain_remove("old.test").expect("remove");
    let conn = Connection::open(dir.path().join(DB_FILE)).expect("db");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM dkim_keys", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 0);
}
