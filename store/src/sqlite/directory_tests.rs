//! Tests of the embedded engine's failed-login runs at chosen times (the directory's
//! behaviour through the actor is in the engine suite, `store/tests/engines`).

use super::Admin;

fn admin() -> (tempfile::TempDir, Admin) {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Admin::open(&dir.path().join("data")).expect("open creates the directory");
    (dir, admin)
}

#[test]
fn failed_logins_lock_after_the_threshold_and_are_forgotten_later() {
    use super::logins;
    use crate::types::{LockoutPolicy, LockoutScope};
    let (_dir, a) = admin();
    let policy = LockoutPolicy {
        account_failures: 2,
        ip_failures: 3,
        secs: 100,
    };
    let c = &a.conn;
    logins::record_failure(c, "a@x.test", "192.0.2.1", 1000, 100).expect("1");
    assert_eq!(
        logins::locked(c, "a@x.test", "192.0.2.1", 1001, &policy),
        Ok(None)
    );
    logins::record_failure(c, "a@x.test", "192.0.2.1", 1010, 100).expect("2");
    let l = logins::locked(c, "a@x.test", "192.0.2.9", 1011, &policy)
        .expect("read")
        .expect("locked");
    assert_eq!(
        (l.scope, l.failures, l.until),
        (LockoutScope::Account, 2, 1110)
    );
    assert_eq!(
        logins::locked(c, "a@x.test", "192.0.2.9", 1110, &policy),
        Ok(None),
        "over"
    );
    // Another account from the same client: the client's third failure locks it.
    logins::record_failure(c, "b@x.test", "192.0.2.1", 1020, 100).expect("3");
    let l = logins::locked(c, "c@x.test", "192.0.2.1", 1021, &policy)
        .expect("read")
        .expect("locked");
    assert_eq!(l.scope, LockoutScope::Ip);
    // A failure long after the last starts a new run.
    logins::record_failure(c, "a@x.test", "192.0.2.2", 5000, 100).expect("late");
    assert_eq!(
        logins::locked(c, "a@x.test", "192.0.2.2", 5001, &policy),
        Ok(None)
    );
    assert!(logins::clear(c, LockoutScope::Account, "a@x.test").expect("clear"));
    assert!(!logins::clear(c, LockoutScope::Account, "a@x.test").expect("again"));
}
