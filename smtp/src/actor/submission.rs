//! The driver's side of submission: checking credentials (through the login guard), asking
//! the store which addresses an account owns, and signing a submitted message (DKIM) and handing it to the store and the outbound queue.

use crate::dkim::{DkimError, DkimSigners};
use crate::session::{AuthAnswer, Authorization, Login, RemoteRcpt, Submission};
use actix::Addr;
use mailroom_config::Config;
use mailroom_shared::events::EventData;
use mailroom_shared::sasl::Credentials;
use mailroom_store::actor::{
    Authenticate, LoginAttempt, LoginGuard, LoginProtocol, OwnsAddresses, Submit, Verdict,
};
use mailroom_store::dkim::DkimKeys;
use mailroom_store::{Delivered, MailboxStore, StoreError};
use mailroom_store::{DsnRet, Notify, OutboundRecipient};
use smtp_proto::{
    MAIL_RET_FULL, MAIL_RET_HDRS, RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER,
    RCPT_NOTIFY_SUCCESS,
};
use std::net::IpAddr;
use std::sync::Arc;

/// Check `credentials` through the login guard of `config` (lockouts, and the delay before
/// a refusal, are the guard's).
pub(super) async fn authenticate(
    store: &Addr<MailboxStore>,
    config: &Config,
    client: IpAddr,
    mechanism: &'static str,
    credentials: Credentials,
) -> AuthAnswer {
    let verdict = store
        .send(Authenticate {
            address: credentials.username,
            password: credentials.password,
            attempt: LoginAttempt {
                protocol: LoginProtocol::Smtp,
                mechanism: mechanism.into(),
                client,
            },
            guard: LoginGuard::from_config(config),
        })
        .await
        .unwrap_or_else(|e| Verdict::Unavailable(e.to_string()));
    match verdict {
        Verdict::Accepted(account) => AuthAnswer::Accepted(Login {
            account_id: account.id,
            address: account.address,
        }),
        Verdict::Refused => AuthAnswer::Refused,
        Verdict::LockedOut(lockout) => AuthAnswer::LockedOut(lockout.refusal_text()),
        Verdict::Unavailable(e) => {
            tracing::warn!(error = %e, "credentials could not be checked");
            AuthAnswer::Unavailable
        }
    }
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

/// Sign the message with the keys of its `From:` domain (when that domain is ours), then
/// store it for its local recipients and queue it for the remote ones, in one transaction.
pub(super) async fn submit(
    store: &Addr<MailboxStore>,
    signers: &Arc<DkimSigners>,
    submission: Submission,
) -> Result<Vec<Delivered>, StoreError> {
    let keys = store
        .send(DkimKeys {
            domain: submission.from_domain.clone(),
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))??;
    let signers = signers.clone();
    let raw = submission.raw;
    // RSA signing takes about a millisecond: not on the sessions' arbiter.
    let raw = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, DkimError> {
        let mut signed = signers.sign(&keys, &raw)?;
        signed.extend_from_slice(&raw);
        Ok(signed)
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("signing task: {e}")))?
    .map_err(|e| {
        // Unsigned mail from a domain that publishes keys would fail DMARC at the other
        // end: the client is told to retry, and the admin finds why in the log.
        tracing::error!(error = %e, "DKIM signing failed");
        StoreError::Unavailable(e.to_string())
    })?;
    let submitted = store
        .send(Submit {
            sender: submission.sender,
            account_id: submission.account_id,
            local: submission.local,
            remote: submission
                .remote
                .into_iter()
                .map(outbound_recipient)
                .collect(),
            raw,
            ret: ret(submission.ret),
            envid: submission.envid,
            event: Some(EventData::Delivered(submission.event)),
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))??;
    Ok(submitted.delivered)
}

/// RFC 3461 §4.1: NOTIFY as the queue keeps it; absent = FAILURE,DELAY.
fn outbound_recipient(r: RemoteRcpt) -> OutboundRecipient {
    let notify = if r.notify
        & (RCPT_NOTIFY_NEVER | RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY)
        == 0
    {
        Notify::default()
    } else {
        Notify {
            never: r.notify & RCPT_NOTIFY_NEVER != 0,
            success: r.notify & RCPT_NOTIFY_SUCCESS != 0,
            failure: r.notify & RCPT_NOTIFY_FAILURE != 0,
            delay: r.notify & RCPT_NOTIFY_DELAY != 0,
        }
    };
    OutboundRecipient {
        address: r.address,
        notify,
        orcpt: r.orcpt,
    }
}

/// RFC 3461 §4.3 RET.
fn ret(flags: u64) -> Option<DsnRet> {
    if flags & MAIL_RET_HDRS != 0 {
        Some(DsnRet::Headers)
    } else if flags & MAIL_RET_FULL != 0 {
        Some(DsnRet::Full)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_parameters_become_the_queues() {
        let r = |notify| RemoteRcpt {
            address: "x@remote.example".into(),
            notify,
            orcpt: None,
        };
        assert_eq!(outbound_recipient(r(0)).notify, Notify::default());
        let n = outbound_recipient(r(RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_DELAY)).notify;
        assert!(n.success && n.delay && !n.failure && !n.never);
        assert!(outbound_recipient(r(RCPT_NOTIFY_NEVER)).notify.never);
        assert_eq!(ret(0), None);
        assert_eq!(ret(MAIL_RET_FULL), Some(DsnRet::Full));
        assert_eq!(ret(MAIL_RET_HDRS), Some(DsnRet::Headers));
    }
}
