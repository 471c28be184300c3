//! One store test suite, every engine: each test runs its body once per engine — the
//! embedded one always, PostgreSQL when `TEST_MAILROOM_POSTGRES` names a server it may make
//! databases on (`eval "$(scripts/services)"` starts one). Each run gets a fresh store: a
//! temporary directory, or a database of its own that is dropped afterwards.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use actix::Addr;
use mailroom_config::{Config, StoreEngine};
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_store::{MailboxStore, Role, StoreAdmin};

/// The variable naming the PostgreSQL server the suite may use.
pub const POSTGRES_VAR: &str = "TEST_MAILROOM_POSTGRES";

/// One engine's fresh store.
pub struct Harness {
    /// `embedded` or `postgres`, for assertion messages.
    pub engine: &'static str,
    pub store: Addr<MailboxStore>,
    pub admin: StoreAdmin,
    pub bus: Bus,
    pub config: Config,
    /// The directory or database; shared with [`each_engine`], which keeps it until the body
    /// has run (an `async move` body that uses only some fields of the harness drops the
    /// others when it is made, not when it ends).
    keep: std::sync::Arc<Keep>,
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Database(#[allow(dead_code)] DroppedDatabase),
}

/// A database made for one run, dropped (in the background) when the run ends.
struct DroppedDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DroppedDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // A thread of its own: dropping may happen inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok(client) = connect(&url).await {
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A URL like `base` naming database `name` instead.
fn with_database(base: &str, name: &str) -> String {
    let without_query = base.split('?').next().unwrap_or(base);
    let (server, _) = without_query
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("//") && !server.ends_with('/'))
        .unwrap_or((without_query, ""));
    format!("{server}/{name}")
}

/// Run `body` against every engine in turn. PostgreSQL is skipped, with a line saying how
/// to run it, when `TEST_MAILROOM_POSTGRES` is unset.
pub async fn each_engine<F, Fut>(body: F)
where
    F: Fn(Harness) -> Fut,
    Fut: Future<Output = ()>,
{
    let run = |h: Harness| {
        let keep = h.keep.clone();
        let done = body(h);
        async move {
            done.await;
            drop(keep);
        }
    };
    run(embedded().await).await;
    match std::env::var(POSTGRES_VAR) {
        Ok(url) if !url.is_empty() => run(postgres(&url).await).await,
        _ => say_skipped(),
    }
}

/// Say once per test binary that the PostgreSQL runs were skipped and how to run them.
/// Written to the process's stderr directly: the test harness captures `eprintln!` of
/// passing tests, and this line is for the person running them.
fn say_skipped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "note: the store suite's PostgreSQL runs were skipped: set {POSTGRES_VAR} to a \
             server's URL (`eval \"$(scripts/services)\"` starts one) to run them"
        );
    });
}

/// The embedded engine in a fresh directory.
pub async fn embedded() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    start("embedded", config, Keep::Dir(dir))
}

/// PostgreSQL in a database of its own on the server at `admin_url`.
pub async fn postgres(admin_url: &str) -> Harness {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "mr_suite_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let client = connect(admin_url)
        .await
        .expect("connect to TEST_MAILROOM_POSTGRES");
    // Two statements: a multi-statement string runs as one transaction, which CREATE
    // DATABASE refuses.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&sql)
            .await
            .expect("create the test database");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    config.store.engine = StoreEngine::Postgres;
    config.store.url = Some(with_database(admin_url, &name));
    config.store.pool_size = 8;
    let keep = Keep::Database(DroppedDatabase {
        admin_url: admin_url.to_string(),
        name,
    });
    // The directory is unused by the engine; keep it alive anyway with the config.
    std::mem::forget(dir);
    start("postgres", config, keep)
}

fn start(engine: &'static str, config: Config, keep: Keep) -> Harness {
    let bus = Bus::start();
    let store = mailroom_store::start(&config, bus.clone()).expect("open the store");
    Harness {
        engine,
        admin: StoreAdmin::new(store.clone()),
        store,
        bus,
        config,
        keep: std::sync::Arc::new(keep),
    }
}

impl Harness {
    /// Host `domain` and add `address` with `password`; the account's id.
    pub async fn account(&self, address: &str, password: &str) -> i64 {
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or(address);
        if self
            .admin
            .domain_list()
            .await
            .expect("domains")
            .iter()
            .all(|d| d.name != domain)
        {
            self.admin.domain_add(domain).await.expect("domain");
        }
        self.admin
            .user_add(address, &Secret::new(password), Role::User, None)
            .await
            .expect("account")
            .id
    }

    /// Deliver `raw` to the accounts `to`, which must succeed.
    pub async fn deliver(&self, to: &[i64], raw: &std::sync::Arc<[u8]>) {
        self.store
            .send(mailroom_store::actor::Deliver {
                recipients: to.to_vec(),
                junk: Vec::new(),
                raw: raw.clone(),
                internal_date: None,
                event: None,
            })
            .await
            .expect("mailbox")
            .expect("deliver");
    }
}

#[test]
fn database_urls_are_rewritten() {
    assert_eq!(
        with_database("postgres://u@127.0.0.1:5/postgres", "x"),
        "postgres://u@127.0.0.1:5/x"
    );
    assert_eq!(
        with_database("postgres://u@127.0.0.1:5", "x"),
        "postgres://u@127.0.0.1:5/x"
    );
}
