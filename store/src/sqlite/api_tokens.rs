//! API tokens of the admin JSON API (`api_tokens`, schema version 12).
//!
//! A token is a random secret shown once when it is made; only its SHA-256 is kept. That is
//! enough for a secret of 256 random bits: no one can guess one, so a slow hash would only
//! slow every API call. A token acts as the admin account that made it, and only while that
//! account still is an admin and not disabled.

use rusqlite::{Connection, OptionalExtension, params};

use super::blobs::sha256_hex;
use super::reads;
use crate::common::directory::{TOKEN_PREFIX, new_token, token_acts};
use crate::error::StoreError;
use crate::types::{Account, ApiToken};

const INSERT: &str =
    "INSERT INTO api_tokens (account_id, name, secret_sha, created) VALUES (?1, ?2, ?3, ?4)";
const LIST: &str = "SELECT t.id, t.name, a.address, t.created, t.last_used \
     FROM api_tokens t JOIN accounts a ON a.id = t.account_id ORDER BY t.id";
const DELETE: &str = "DELETE FROM api_tokens WHERE id = ?1";
const TOUCH: &str = "UPDATE api_tokens SET last_used = ?2 WHERE id = ?1";

/// Make a token for `account` (which must be an admin): its row, and the secret to show once.
pub(crate) fn create(
    conn: &Connection,
    account: &Account,
    name: &str,
    now: i64,
) -> Result<(ApiToken, String), StoreError> {
    let (name, secret) = new_token(account, name)?;
    conn.execute(
        INSERT,
        params![account.id, name, sha256_hex(secret.as_bytes()), now],
    )?;
    let token = ApiToken {
        id: conn.last_insert_rowid(),
        name,
        account: account.address.clone(),
        created: now,
        last_used: None,
    };
    Ok((token, secret))
}

/// Every token, oldest first.
pub(crate) fn list(conn: &Connection) -> Result<Vec<ApiToken>, StoreError> {
    let mut stmt = conn.prepare(LIST)?;
    let rows = stmt.query_map([], |r| {
        Ok(ApiToken {
            id: r.get(0)?,
            name: r.get(1)?,
            account: r.get(2)?,
            created: r.get(3)?,
            last_used: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revoke token `id`; `NotFound` if there is none.
pub(crate) fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    if conn.execute(DELETE, [id])? == 0 {
        return Err(StoreError::NotFound(format!("API token {id}")));
    }
    Ok(())
}

/// The admin account `secret` acts as, if it is a live token of an enabled admin; records
/// the use.
pub(crate) fn account(
    conn: &Connection,
    secret: &str,
    now: i64,
) -> Result<Option<Account>, StoreError> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT t.id, {} FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
         WHERE t.secret_sha = ?1",
        prefixed_account_columns()
    );
    let found = conn
        .query_row(&sql, [sha256_hex(secret.as_bytes())], |r| {
            let id: i64 = r.get(0)?;
            let account = reads::account_from_row_at(r, 1)?;
            Ok((id, account))
        })
        .optional()?;
    let Some((id, account)) = found else {
        return Ok(None);
    };
    if !token_acts(&account) {
        return Ok(None);
    }
    conn.execute(TOUCH, params![id, now])?;
    Ok(Some(account))
}

fn prefixed_account_columns() -> String {
    reads::ACCOUNT_COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
