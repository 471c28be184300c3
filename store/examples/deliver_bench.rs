//! Delivery throughput through the `MailboxStore` actor, with 1 and with 50 deliveries in
//! flight, to show what group commit buys while every delivery is still fsynced.
//!
//! ```text
//! cargo run --release -p mailroom-store --example deliver_bench -- [--messages N] [--size BYTES] [--dir PATH]
//! ```
//! Each run uses a fresh store in a temp directory (or under `--dir`) and prints one line:
//! `writers=50 messages=2000 size=4096 elapsed=1.23s deliveries_per_sec=1626 commits=97 avg_batch=20.6`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use futures_util::future::join_all;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_store::actor::{Deliver, Flush, Stats};
use mailroom_store::{MailboxStore, Role, StoreAdmin};

const ACCOUNTS: usize = 10;

struct Args {
    messages: usize,
    size: usize,
    dir: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        messages: 2000,
        size: 4096,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => args.messages = value()?.parse().context("--messages")?,
            "--size" => args.size = value()?.parse().context("--size")?,
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            other => bail!(
                "unknown argument {other}; usage: deliver_bench [--messages N] [--size BYTES] [--dir PATH]"
            ),
        }
    }
    Ok(args)
}

/// A distinct message of exactly `size` octets (or the header alone, if larger).
fn message(n: usize, size: usize) -> Arc<[u8]> {
    let mut raw = format!(
        "From: bench@example.test\r\nTo: user@example.test\r\nSubject: bench message {n}\r\n\r\n"
    )
    .into_bytes();
    let line = format!("message {n} filler text for the body\r\n");
    while raw.len() < size {
        let room = size - raw.len();
        raw.extend_from_slice(&line.as_bytes()[..room.min(line.len())]);
    }
    raw.into()
}

async fn run(dir: &Path, writers: usize, args: &Args) -> anyhow::Result<()> {
    let store = MailboxStore::start_embedded(dir, Bus::start())?;
    let admin = StoreAdmin::new(store.clone());
    admin.domain_add("example.test").await?;
    let password = Secret::new("bench password");
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS {
        let address = format!("user{i}@example.test");
        accounts.push(
            admin
                .user_add(&address, &password, Role::User, None)
                .await?
                .id,
        );
    }
    let bodies: Vec<Arc<[u8]>> = (0..args.messages).map(|n| message(n, args.size)).collect();
    let next = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let loops = (0..writers).map(|_| {
        let (store, next, bodies, accounts) = (
            store.clone(),
            next.clone(),
            bodies.clone(),
            accounts.clone(),
        );
        async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(raw) = bodies.get(n) else {
                    return Ok::<_, anyhow::Error>(());
                };
                store
                    .send(Deliver {
                        recipients: vec![accounts[n % accounts.len()]],
                        junk: Vec::new(),
                        raw: raw.clone(),
                        internal_date: None,
                        event: None,
                    })
                    .await??;
            }
        }
    });
    for r in join_all(loops).await {
        r?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = store.send(Stats).await??;
    store.send(Flush).await??;
    println!(
        "writers={writers} messages={} size={} elapsed={elapsed:.2}s deliveries_per_sec={:.0} commits={} avg_batch={:.1}",
        args.messages,
        args.size,
        args.messages as f64 / elapsed,
        stats.commits,
        stats.ops as f64 / stats.commits.max(1) as f64,
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let temp = tempfile::tempdir()?;
    let base = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    for writers in [1, 50] {
        let dir = base.join(format!("bench-writers-{writers}"));
        if dir.exists() {
            bail!("{} exists; use an empty --dir", dir.display());
        }
        actix_rt::System::new().block_on(run(&dir, writers, &args))?;
    }
    Ok(())
}
