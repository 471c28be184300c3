//! The driver's side of submission: checking credentials (with the store's lockouts and a
//! delay after a failure), asking the store which addresses an account owns, and handing a
//! submitted message to the store and the outbound queue.

use crate::session::{AuthAnswer, Authorization, Login, Submission};
use actix::Addr;
use mailroom_config::Config;
use mailroom_shared::events::EventData;
use mailroom_shared::sasl::Credentials;
use mailroom_store::actor::{Authenticate, Deliver, LoginAttempt, OwnsAddresses};
use mailroom_store::{Delivered, LockoutPolicy, MailboxStore, StoreError};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Check `credentials`; a refusal is answered only after `[submission]
/// auth_failure_delay_ms`.
pub(super) async fn authenticate(
    store: &Addr<MailboxStore>,
    config: &Config,
    client: IpAddr,
    mechanism: &'static str,
    credentials: Credentials,
) -> AuthAnswer {
    let limits = &config.submission;
    let checked = store
        .send(Authenticate {
            address: credentials.username,
            password: credentials.password,
            attempt: Some(LoginAttempt {
                protocol: "smtp",
                mechanism: mechanism.into(),
                client,
                lockout: Some(LockoutPolicy {
                    account_failures: limits.lockout_failures,
                    ip_failures: limits.lockout_failures_per_ip,
                    secs: limits.lockout_secs,
                }),
            }),
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Unavailable(e.to_string())));
    let answer = match checked {
        Ok(Some(account)) => {
            return AuthAnswer::Accepted(Login {
                account_id: account.id,
                address: account.address,
            });
        }
        Ok(None) => AuthAnswer::Refused,
        Err(StoreError::LockedOut(why)) => AuthAnswer::LockedOut(why),
        Err(e) => {
            tracing::warn!(error = %e, "credentials could not be checked");
            return AuthAnswer::Unavailable;
        }
    };
    tokio::time::sleep(Duration::from_millis(limits.auth_failure_delay_ms)).await;
    answer
}

/// Which of `addresses` the account owns.
pub(super) async fn owns(
    store: &Addr<MailboxStore>,
    account_id: i64,
    addresses: Vec<String>,
) -> Authorization {
    match store
        .send(OwnsAddresses {
            account_id,
            addresses,
        })
        .await
    {
        Ok(Ok(owned)) => Authorization::Owned(owned),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "sender ownership could not be checked");
            Authorization::Unavailable
        }
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable for the sender check");
            Authorization::Unavailable
        }
    }
}

/// Store the message for its local recipients and queue it for the remote ones.
pub(super) async fn submit(
    store: &Addr<MailboxStore>,
    submission: Submission,
) -> Result<Vec<Delivered>, StoreError> {
    if !submission.remote.is_empty() {
        // The outbound queue lands with the queue branch (merged next); until then a remote
        // recipient cannot be taken durably, so the client is told to retry.
        return Err(StoreError::Unavailable(
            "outbound queue not available".into(),
        ));
    }
    store
        .send(Deliver {
            recipients: submission.local,
            junk: Vec::new(),
            raw: Arc::from(submission.raw),
            internal_date: None,
            event: Some(EventData::Delivered(submission.event)),
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Unavailable(e.to_string())))
}
