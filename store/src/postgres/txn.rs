//! Transactions of the PostgreSQL engine: a write runs in one transaction, retried from the
//! start when PostgreSQL aborts it for a deadlock (40P01) or a serialization failure (40001),
//! which concurrent writers on several nodes can cause and which leave nothing behind. A
//! read that must see one snapshot runs in a read-only REPEATABLE READ transaction.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};
use tokio_postgres::IsolationLevel;

use super::{pg, pool_err, sqlstate};
use crate::error::StoreError;

/// SQLSTATE of a detected deadlock.
const DEADLOCK: &str = "40P01";
/// SQLSTATE of a serialization failure.
const SERIALIZATION_FAILURE: &str = "40001";
/// Attempts of one write before its last error is the answer.
const ATTEMPTS: u32 = 5;

/// Why a transaction's work failed: the database (maybe worth a retry) or the request.
#[derive(Debug)]
pub(crate) enum TxError {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for TxError {
    fn from(e: tokio_postgres::Error) -> Self {
        TxError::Pg(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl From<serde_json::Error> for TxError {
    fn from(e: serde_json::Error) -> Self {
        TxError::Store(e.into())
    }
}

impl From<TxError> for StoreError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Pg(e) => pg(e),
            TxError::Store(e) => e,
        }
    }
}

pub(crate) type TxResult<T> = Result<T, TxError>;

/// The future of one attempt's work inside its transaction.
pub(crate) type TxFuture<'t, T> = Pin<Box<dyn Future<Output = TxResult<T>> + Send + 't>>;

fn retryable(e: &TxError) -> bool {
    matches!(e, TxError::Pg(e) if matches!(sqlstate(e), Some(DEADLOCK | SERIALIZATION_FAILURE)))
}

/// Run `work` in a READ COMMITTED transaction and commit it; on a deadlock or serialization
/// failure, run it again in a new one (after a short pause that grows with each attempt).
pub(crate) async fn write<T, F>(pool: &Pool, mut work: F) -> Result<T, StoreError>
where
    F: for<'t> FnMut(&'t Transaction<'t>) -> TxFuture<'t, T>,
{
    let mut attempt = 1;
    loop {
        let mut client = pool.get().await.map_err(pool_err)?;
        let result = async {
            let tx = client.transaction().await?;
            let value = work(&tx).await?;
            tx.commit().await?;
            Ok(value)
        }
        .await;
        match result {
            Ok(value) => return Ok(value),
            Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                tracing::debug!(
                    attempt,
                    "PostgreSQL aborted a write to resolve a conflict; retrying."
                );
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Run `work` in a read-only REPEATABLE READ transaction: every statement sees the same
/// snapshot.
pub(crate) async fn snapshot<T, F>(pool: &Pool, work: F) -> Result<T, StoreError>
where
    F: for<'t> FnOnce(&'t Transaction<'t>) -> TxFuture<'t, T>,
{
    let mut client = pool.get().await.map_err(pool_err)?;
    let result: TxResult<T> = async {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let value = work(&tx).await?;
        tx.commit().await?;
        Ok(value)
    }
    .await;
    result.map_err(StoreError::from)
}
