//! The SMTP connection driver: it owns the socket and performs what the sans-I/O session
//! asks for — read and write, the STARTTLS upgrade, questions to the store and the greylist,
//! the policy checks (DNSBL, SPF, DKIM/ARC/DMARC through the snapshot's resolver), tarpit
//! pauses — under the command timeout. Draining ends the session only between commands.

use super::Policy;
use super::submission;
use crate::policy::greylist::{self, Check};
use crate::policy::spam::{self, Score, SpamScorer, SpamVerdict};
use crate::policy::{self, AuthSummary, Inspection, Verdict};
use crate::session::{Action, AuthAnswer, Authorization, Checks, Context, Role, Session};
use actix::Addr;
use mail_auth::MessageAuthenticator;
use mailroom_config::ListenerKind;
use mailroom_shared::events::EventData;
use mailroom_shared::inflight::{Reservation, inflight};
use mailroom_shared::metrics::{
    self, AuthMethod, GreylistVerdict, Protocol, RejectReason, metrics,
};
use mailroom_shared::net::{Connection, Socket, run_in_span};
use mailroom_store::actor::{CheckRecipient, Deliver, RecordEvent};
use mailroom_store::{MailboxStore, StoreError};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Run one SMTP connection to its end.
pub(crate) async fn run(conn: Connection, store: Addr<MailboxStore>, policy: Policy) {
    // The store actor on this session's own arbiter: no hop to the System arbiter per request.
    let store = mailroom_store::actor::local_twin(&store).await;
    let span = conn.span();
    // On the heap: passed by value through the span wrappers, the session's state machine was
    // copied several times over at every spawn.
    run_in_span(span, Box::pin(drive(conn, store, policy))).await
}

async fn drive(conn: Connection, store: Addr<MailboxStore>, policy: Policy) -> io::Result<()> {
    let Policy {
        greylist,
        spam,
        send_rate,
        dkim,
    } = policy;
    let Connection {
        session_id,
        kind,
        socket,
        peer,
        snapshot,
        mut draining,
        guard,
    } = conn;
    let config = &snapshot.config;
    let timeout = Duration::from_secs(config.limits.command_timeout_secs);
    let implicit = kind.implicit_tls();
    let _active = metrics().session_started(kind);
    let mut io = Box::pin(Socket::open(socket, kind, implicit, &snapshot.tls, timeout)).await?;
    let mx = kind == ListenerKind::Smtp;
    let checks = Checks {
        dnsbl: mx && !config.dnsbl.zones.is_empty(),
        auth: mx && config.auth.enabled,
        spf_reject_fail: config.spf.reject_fail,
        spam: mx && config.spam.enabled,
    };
    let mut session = Session::new(Context {
        host: config.server.hostname.clone(),
        role: if mx { Role::Mx } else { Role::Submission },
        peer: peer.ip(),
        limits: config.limits.clone(),
        tls: implicit,
        session_id,
        greylist: config.greylist.enabled && mx,
        checks: checks.clone(),
        allow_plaintext_auth: config.security.allow_plaintext_auth,
    });
    // mail-auth's handle on the one resolver; a clone shares hickory's cache.
    let authenticator = MessageAuthenticator(snapshot.dns.resolver().clone());
    session.connected();
    // The spam verdict of the message being delivered, for the decision record after it.
    let mut scored: Option<SpamVerdict> = None;

    let mut input: Vec<u8> = Vec::new();
    // When the last input arrived, for the latency of the replies written after it.
    let mut arrived: Option<Instant> = None;
    // The share of the memory budget of a message read back from its spool, until the
    // transaction is answered.
    let mut held: Option<Reservation> = None;
    loop {
        let mut rest: &[u8] = &input;
        let action = session.advance(&mut rest);
        let consumed = input.len() - rest.len();
        input.drain(..consumed);
        // Events of the last step (and of the store answers fed in before it): logged
        // without making the client wait.
        for event in session.take_events() {
            store.do_send(RecordEvent(event));
        }
        match action {
            Action::NeedInput => {
                drop(held.take());
                io.write_all(&take_replies(&mut session, &mut arrived))
                    .await?;
                let safe = session.at_safe_point();
                let read = tokio::select! {
                    biased;
                    () = draining.started(), if safe => {
                        session.shutting_down();
                        continue;
                    }
                    // Ended from the admin panel: at once, also mid-transaction (nothing
                    // unacknowledged is kept, so nothing is lost).
                    () = guard.ended() => {
                        session.ended();
                        continue;
                    }
                    read = tokio::time::timeout(timeout, io.read_into(&mut input)) => read,
                };
                match read {
                    Err(_) => session.timed_out(),
                    Ok(Ok(0)) => return Ok(()),
                    Ok(Ok(_)) => arrived = Some(Instant::now()),
                    Ok(Err(e)) => return Err(e),
                }
            }
            Action::Resolve { address, size } => {
                let answer = store
                    .send(CheckRecipient { address, size })
                    .await
                    .unwrap_or_else(|e| Err(StoreError::Unavailable(e.to_string())));
                session.resolved(answer);
            }
            Action::Greylist {
                client,
                sender,
                recipient,
                authenticated_domain,
            } => {
                let verdict = greylist
                    .send(Check {
                        client,
                        sender,
                        recipient,
                        authenticated_domain,
                    })
                    .await
                    .unwrap_or_else(|e| {
                        // Greylisting is a nicety; a missing actor must not stop mail.
                        tracing::warn!(error = %e, "Greylist unavailable; letting the recipient through.");
                        greylist::Verdict::Pass
                    });
                metrics().greylist_verdict(match verdict {
                    greylist::Verdict::Pass => GreylistVerdict::Pass,
                    greylist::Verdict::Defer { .. } => {
                        metrics().message_rejected(RejectReason::Greylisted);
                        GreylistVerdict::Defer
                    }
                });
                session.greylisted(verdict);
            }
            Action::CheckClient { ip } => {
                let listing = Box::pin(policy::check_client(
                    snapshot.dns.resolver(),
                    ip,
                    &config.dnsbl.zones,
                ))
                .await;
                if let Some(listing) = &listing {
                    tracing::info!(zone = %listing.zone, "client is on a DNS block list; refused");
                }
                session.client_checked(listing);
            }
            Action::CheckSender {
                ip,
                helo,
                mail_from,
            } => {
                let sender = Box::pin(policy::check_sender(
                    &authenticator,
                    ip,
                    &helo,
                    &config.server.hostname,
                    &mail_from,
                ))
                .await;
                session.sender_checked(sender);
            }
            Action::Load(spool) => {
                // The message in memory, as read back, then as handed on (trace fields
                // added, inspection results): about three copies at the worst moment.
                let len = spool.0.len();
                if let Ok(r) = inflight().budget.reserve(len.saturating_mul(3)).await {
                    held.replace(r);
                }
                // A read of up to max_message_size octets: off the session's arbiter.
                let spool = spool.0;
                let data = tokio::task::spawn_blocking(move || spool.into_bytes())
                    .await
                    .unwrap_or_else(|e| Err(io::Error::other(e)));
                session.loaded(data);
            }
            Action::Inspect(inspection) => {
                let mut verdict = if checks.auth {
                    Box::pin(policy::inspect(
                        &authenticator,
                        &config.server.hostname,
                        &inspection,
                        config.dmarc.on_reject,
                    ))
                    .await
                } else {
                    Verdict::unchecked()
                };
                if checks.auth {
                    count_auth_results(&verdict.auth);
                }
                if checks.spam {
                    scored = Box::pin(score(&spam, &inspection, &verdict)).await;
                    if let Some(s) = &scored {
                        verdict.add_spam(s, config.spam.reject_threshold);
                        metrics().spam_verdict(if s.reject {
                            metrics::SpamVerdict::Reject
                        } else if s.per_account.iter().any(|a| a.action == spam::Action::Junk) {
                            metrics::SpamVerdict::Junk
                        } else {
                            metrics::SpamVerdict::Ham
                        });
                    }
                }
                tracing::debug!(auth = ?verdict.auth, disposition = ?verdict.disposition, spam = ?verdict.spam_score, "message inspected");
                session.inspected(inspection, verdict);
            }
            Action::Deliver(delivery) => {
                let recipients = delivery.event.envelope.rcpt_to.clone();
                let outcome = store
                    .send(Deliver {
                        recipients: delivery.accounts,
                        junk: delivery.junk,
                        raw: Arc::from(delivery.raw),
                        internal_date: None,
                        event: Some(EventData::Delivered(delivery.event)),
                    })
                    .await
                    .unwrap_or_else(|e| Err(StoreError::Unavailable(e.to_string())));
                // Why each copy went where it did, for the admin; losing it loses no mail.
                if let (Some(s), Ok(delivered)) = (scored.take(), &outcome) {
                    store.do_send(s.decisions(delivered));
                }
                if outcome.is_ok() {
                    metrics().message_received(kind);
                    for r in &recipients {
                        metrics().recipient_stored(r);
                    }
                }
                session.delivered(outcome);
            }
            Action::Authenticate {
                mechanism,
                credentials,
            } => {
                let answer = Box::pin(submission::authenticate(
                    &store,
                    config,
                    peer.ip(),
                    mechanism,
                    credentials,
                ))
                .await;
                if let AuthAnswer::Accepted(login) = &answer {
                    guard.set_account(&login.address);
                }
                session.authenticated(answer);
            }
            Action::Authorize {
                account_id,
                addresses,
                at_mail,
            } => {
                let limit = config.submission.max_messages_per_hour;
                let answer = if at_mail && send_rate.over(account_id, limit).await {
                    Authorization::OverRate { limit }
                } else {
                    Box::pin(submission::owns(&store, account_id, addresses)).await
                };
                session.authorized(answer);
            }
            Action::Submit(submitted) => {
                let account_id = submitted.account_id;
                let outcome = Box::pin(submission::submit(&store, &dkim, submitted)).await;
                if outcome.is_ok() {
                    send_rate
                        .record(account_id, config.submission.max_messages_per_hour)
                        .await;
                    metrics().message_received(kind);
                }
                session.delivered(outcome);
            }
            Action::StartTls => {
                io.write_all(&take_replies(&mut session, &mut arrived))
                    .await?;
                // RFC 3207 §4.2: whatever came with or after STARTTLS in plain text is dropped.
                input.clear();
                io = Box::pin(io.upgrade(kind, &snapshot.tls, timeout)).await?;
                session.tls_started();
            }
            Action::Pause(delay) => {
                io.write_all(&take_replies(&mut session, &mut arrived))
                    .await?;
                tokio::time::sleep(delay).await;
            }
            Action::Close => {
                io.write_all(&take_replies(&mut session, &mut arrived))
                    .await?;
                io.shutdown().await;
                return Ok(());
            }
        }
    }
}

/// The session's pending replies; with input behind them, their latency is counted (from
/// the arrival of the last input, so a message's data is timed from its end).
fn take_replies(session: &mut Session, arrived: &mut Option<Instant>) -> Vec<u8> {
    let replies = session.take_output();
    if !replies.is_empty()
        && let Some(at) = arrived.take()
    {
        metrics().command_took(Protocol::Smtp, at.elapsed());
    }
    replies
}

/// Count the SPF (MAIL FROM identity), DKIM and DMARC results of a received message.
fn count_auth_results(auth: &AuthSummary) {
    let m = metrics();
    m.auth_result(AuthMethod::Spf, auth.spf_mail_from.as_str());
    m.auth_result(AuthMethod::Dkim, auth.dkim.as_str());
    m.auth_result(AuthMethod::Dmarc, auth.dmarc.as_str());
}

/// The spam scorer's verdict on the inspected message; `None` (deliver unscored) when the
/// scorer fails, which must never lose or refuse mail.
async fn score(
    spam: &Addr<SpamScorer>,
    inspection: &Inspection,
    verdict: &Verdict,
) -> Option<SpamVerdict> {
    let ask = Score {
        account_ids: inspection.accounts.clone(),
        raw: Arc::from(&inspection.data[..]),
        facts: policy::spam_facts(inspection, &verdict.auth),
    };
    match spam.send(ask).await {
        Ok(Ok(verdict)) => Some(verdict),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "Spam scoring failed; delivering unscored.");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "Spam scorer unavailable; delivering unscored.");
            None
        }
    }
}
