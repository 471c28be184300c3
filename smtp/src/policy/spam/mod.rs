//! Spam scoring: a score per message from weighted rules (authentication results, DNSBL,
//! header sanity, content tricks) plus, per recipient account, a Bayesian classifier that
//! learns from what the user moves into and out of Junk.
//!
//! Pieces, in the order a message goes through them:
//! - [`parsed`]: what is read of the message, once, bounded (mail-parser).
//! - [`rules`]: the named, weighted checks over it and the session's [`Facts`].
//! - [`tokens`]: the classifier's tokens, hashed.
//! - [`bayes`]: a probability from one account's token counts (kept by the store), as points.
//! - [`decide`]: rules and per-account points to a [`SpamVerdict`]: headers, Inbox or Junk
//!   per account, and whether to refuse the message.
//! - [`actor`]: the `SpamScorer` actor the SMTP session asks, which also trains on
//!   `MessageMoved` events.
//!
//! Every decision is explainable: a verdict lists each rule that fired with its points and a
//! detail, and [`SpamVerdict::decisions`] turns it into the record the store keeps with the
//! message for the admin.
//!
//! The classifier never refuses mail (a user's training must not bounce a sender): it only
//! moves a recipient's copy to Junk. Refusal comes from the rules score alone.
//!
//! Wiring at the end of DATA (after authentication has produced the [`Facts`]):
//! 1. send [`Score`] with the local recipients and the message as received; on `Err`, log
//!    and deliver unscored (a scorer failure must never lose or refuse mail);
//! 2. `verdict.reject` → `550 5.7.1` and a `Rejected` event; nothing is stored;
//! 3. else prepend `verdict.headers` and deliver with `mailroom_store::actor::Deliver
//!    { junk: verdict.junk(), .. }`;
//! 4. after the `250`, send `verdict.decisions(&delivered)` to the store (a failure there is
//!    only logged), and put the score in the `Delivered` event.

pub mod actor;
pub mod bayes;
pub mod parsed;
pub mod rules;
pub mod tokens;

use std::net::IpAddr;

use super::AuthResult;

use mailroom_store::Delivered;
use mailroom_store::spam::{BayesCounts, RecordSpamDecisions, SpamDecision};
use serde::Serialize;

pub use actor::{Score, SpamError, SpamScorer};
pub use rules::Weights;

/// What the SMTP session knows about a message besides its bytes, for the rules. The
/// session fills every field at the end of DATA (after authentication has run):
///
/// - `mail_from`: the reverse-path of MAIL FROM without angle brackets (`""` for `<>`).
/// - `client_ip`: the peer address of the connection.
/// - `helo`: the EHLO/HELO argument as given (`""` if none).
/// - `authenticated`: the client logged in with AUTH (submission). Such mail is normally
///   not scored at all; if it is, the HELO and forged-local-sender rules skip it.
/// - `spf`, `dkim`, `dmarc`: the authentication step's results as its
///   `Authentication-Results:` field names them ([`AuthResult`]; `None` when a check did
///   not run): SPF of the MAIL FROM identity, DKIM `pass` when any signature verified, and
///   DMARC of the From domain. For DKIM and DMARC, `neutral` and `softfail` count as
///   failing.
/// - `dnsbl`: the names of the DNS block lists that listed `client_ip` (empty if none or
///   not checked).
///
/// Which domains are ours the scorer asks the store itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub mail_from: String,
    pub client_ip: IpAddr,
    pub helo: String,
    pub authenticated: bool,
    pub spf: AuthResult,
    pub dkim: AuthResult,
    pub dmarc: AuthResult,
    pub dnsbl: Vec<String>,
}

/// One rule that fired: its name (a `[spam.weights]` key), its points, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleHit {
    pub name: &'static str,
    pub score: f64,
    pub detail: String,
}

/// Where a recipient's copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Inbox,
    Junk,
}

impl Action {
    /// As kept in the store's decision record.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Inbox => "inbox",
            Action::Junk => "junk",
        }
    }
}

/// One recipient's score.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountVerdict {
    pub account_id: i64,
    /// The classifier's part (`BAYES_SPAM` or `BAYES_HAM`), when it had something to say.
    pub bayes: Option<RuleHit>,
    /// Rules score plus the classifier's points.
    pub score: f64,
    /// Junk when `score` reaches `junk_threshold`.
    pub action: Action,
}

/// The answer to [`Score`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpamVerdict {
    /// Sum of the rules' points.
    pub rules_score: f64,
    /// The rules that fired, in rule order.
    pub rules: Vec<RuleHit>,
    /// Per recipient, in the order asked.
    pub per_account: Vec<AccountVerdict>,
    /// `X-Spam-Score:` and `X-Spam-Status:` fields (CRLF-terminated) to prepend to the
    /// message; empty when scoring is off. With one recipient they give its total score,
    /// with several the rules score (the body is stored once for all of them).
    pub headers: Vec<u8>,
    /// The rules score reached `reject_threshold`: refuse with 550 at the end of DATA.
    pub reject: bool,
}

impl SpamVerdict {
    /// The verdict when scoring is off: nothing added, everyone's INBOX.
    pub fn disabled(account_ids: &[i64]) -> Self {
        Self {
            rules_score: 0.0,
            rules: Vec::new(),
            per_account: account_ids
                .iter()
                .map(|&account_id| AccountVerdict {
                    account_id,
                    bayes: None,
                    score: 0.0,
                    action: Action::Inbox,
                })
                .collect(),
            headers: Vec::new(),
            reject: false,
        }
    }

    /// The account's verdict, if it was asked about.
    pub fn for_account(&self, account_id: i64) -> Option<&AccountVerdict> {
        self.per_account.iter().find(|a| a.account_id == account_id)
    }

    /// The recipients whose copy goes to Junk: `Deliver::junk`.
    pub fn junk(&self) -> Vec<i64> {
        self.per_account
            .iter()
            .filter(|a| a.action == Action::Junk)
            .map(|a| a.account_id)
            .collect()
    }

    /// The record the store keeps of this verdict, for the copies `delivered` (the answer
    /// of `Deliver`): send it to `MailboxStore` after the delivery.
    pub fn decisions(&self, delivered: &[Delivered]) -> RecordSpamDecisions {
        let decisions = delivered
            .iter()
            .filter_map(|d| {
                let a = self.for_account(d.account_id)?;
                let hits: Vec<&RuleHit> = self.rules.iter().chain(a.bayes.as_ref()).collect();
                Some(SpamDecision {
                    account_id: d.account_id,
                    mailbox_id: d.mailbox_id,
                    uid: d.uid,
                    score: a.score,
                    action: a.action.as_str().into(),
                    // A Vec of plain structs always serialises.
                    rules_json: serde_json::to_string(&hits).unwrap_or_else(|_| "[]".into()),
                })
            })
            .collect();
        RecordSpamDecisions { decisions }
    }
}

/// The scorer's settings, from `[spam]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub enabled: bool,
    pub junk_threshold: f64,
    pub reject_threshold: f64,
    pub weights: Weights,
}

impl From<&mailroom_config::Spam> for Settings {
    fn from(c: &mailroom_config::Spam) -> Self {
        Self {
            enabled: c.enabled,
            junk_threshold: c.junk_threshold,
            reject_threshold: c.reject_threshold,
            weights: Weights::with_overrides(&c.weights),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::from(&mailroom_config::Spam::default())
    }
}

/// The domains whose being ours matters to the rules (From and envelope sender), to ask
/// the store about.
pub fn claimed_domains(p: &parsed::Parsed, facts: &Facts) -> Vec<String> {
    let sender = facts.mail_from.to_lowercase();
    let mut out: Vec<String> = [p.from_domain(), parsed::domain_of(&sender)]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    out.dedup();
    out
}

/// Rules hits, the message's tokens and each recipient's classifier counts to a verdict.
pub fn decide(
    rules: Vec<RuleHit>,
    tokens: &[i64],
    accounts: &[(i64, BayesCounts)],
    settings: &Settings,
) -> SpamVerdict {
    // A fold from +0, not `sum()`, whose empty sum is -0 and would print as "-0.0".
    let rules_score = rules.iter().fold(0.0, |total, h| total + h.score);
    let per_account: Vec<AccountVerdict> = accounts
        .iter()
        .map(|(account_id, counts)| {
            let bayes = bayes::probability(counts, tokens).and_then(|p| {
                let points = bayes::points(p, &settings.weights);
                let name = if points >= 0.0 {
                    "BAYES_SPAM"
                } else {
                    "BAYES_HAM"
                };
                (points != 0.0).then(|| RuleHit {
                    name,
                    score: points,
                    detail: format!(
                        "p={p:.3} after {} spam / {} ham",
                        counts.spam_messages, counts.ham_messages
                    ),
                })
            });
            let score = rules_score + bayes.as_ref().map_or(0.0, |b| b.score);
            AccountVerdict {
                account_id: *account_id,
                bayes,
                score,
                action: if score >= settings.junk_threshold {
                    Action::Junk
                } else {
                    Action::Inbox
                },
            }
        })
        .collect();
    let (shown_score, shown_bayes) = match per_account.as_slice() {
        [one] => (one.score, one.bayes.as_ref()),
        _ => (rules_score, None),
    };
    let names: Vec<&str> = rules.iter().chain(shown_bayes).map(|h| h.name).collect();
    let headers = spam_headers(shown_score, settings.junk_threshold, &names);
    SpamVerdict {
        rules_score,
        rules,
        per_account,
        headers,
        reject: rules_score >= settings.reject_threshold,
    }
}

/// `X-Spam-Score` and `X-Spam-Status`, the latter in SpamAssassin's form, folded before 78
/// characters (RFC 5322 §2.1.1).
fn spam_headers(score: f64, required: f64, tests: &[&str]) -> Vec<u8> {
    let verdict = if score >= required { "Yes" } else { "No" };
    let mut out = format!("X-Spam-Score: {score:.1}\r\n");
    let mut line =
        format!("X-Spam-Status: {verdict}, score={score:.1} required={required:.1} tests=");
    if tests.is_empty() {
        line.push_str("none");
    }
    for (i, name) in tests.iter().enumerate() {
        let piece = if i + 1 < tests.len() {
            format!("{name},")
        } else {
            (*name).to_string()
        };
        if line.len() + piece.len() > 76 {
            out.push_str(&line);
            out.push_str("\r\n");
            line = String::from("\t");
        }
        line.push_str(&piece);
    }
    out.push_str(&line);
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod corpus;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Facts of a plain outside client: nothing checked, nothing listed.
    pub(crate) fn facts() -> Facts {
        Facts {
            mail_from: "ann@example.org".into(),
            client_ip: "192.0.2.10".parse().expect("ip"),
            helo: "mx.example.org".into(),
            authenticated: false,
            spf: AuthResult::None,
            dkim: AuthResult::None,
            dmarc: AuthResult::None,
            dnsbl: Vec::new(),
        }
    }

    fn hit(name: &'static str, score: f64) -> RuleHit {
        RuleHit {
            name,
            score,
            detail: String::new(),
        }
    }

    #[test]
    fn thresholds_pick_junk_and_reject() {
        let s = Settings::default();
        let v = decide(
            vec![hit("MISSING_DATE", 1.5)],
            &[],
            &[(1, BayesCounts::default())],
            &s,
        );
        assert_eq!(v.per_account[0].action, Action::Inbox);
        assert!(v.junk().is_empty());
        assert!(!v.reject);
        assert_eq!(
            String::from_utf8_lossy(&v.headers),
            "X-Spam-Score: 1.5\r\nX-Spam-Status: No, score=1.5 required=5.0 tests=MISSING_DATE\r\n"
        );
        let v = decide(
            vec![hit("FORGED_LOCAL_SENDER", 5.0)],
            &[],
            &[(1, BayesCounts::default()), (2, BayesCounts::default())],
            &s,
        );
        assert!(v.per_account.iter().all(|a| a.action == Action::Junk));
        assert_eq!(v.junk(), [1, 2]);
        assert!(!v.reject);
        assert!(String::from_utf8_lossy(&v.headers).contains("Yes, score=5.0"));
        let v = decide(vec![], &[], &[(1, BayesCounts::default())], &s);
        assert!(String::from_utf8_lossy(&v.headers).starts_with("X-Spam-Score: 0.0\r\n"));
        let v = decide(vec![hit("DNSBL_LISTED", 15.0)], &[], &[], &s);
        assert!(v.reject, "the rules score alone reaches reject_threshold");
    }

    #[test]
    fn long_status_is_folded() {
        let names: Vec<&str> = rules::RULES.iter().map(|(n, _, _)| *n).collect();
        let h = String::from_utf8(spam_headers(30.0, 5.0, &names)).expect("utf8");
        for line in h.split("\r\n") {
            assert!(line.len() <= 78, "{line:?}");
        }
        let unfolded = h.replace("\r\n\t", "");
        for n in names {
            assert!(unfolded.contains(n), "{n}");
        }
    }

    #[test]
    fn decisions_carry_the_rules_and_the_accounts_bayes_part() {
        let s = Settings::default();
        let v = decide(
            vec![hit("HTML_ONLY", 1.5)],
            &[],
            &[(7, BayesCounts::default())],
            &s,
        );
        let d = v.decisions(&[
            Delivered {
                account_id: 7,
                mailbox_id: 3,
                uid: 9,
            },
            // Not scored: no decision.
            Delivered {
                account_id: 8,
                mailbox_id: 4,
                uid: 1,
            },
        ]);
        assert_eq!(d.decisions.len(), 1);
        let one = &d.decisions[0];
        assert_eq!((one.account_id, one.mailbox_id, one.uid), (7, 3, 9));
        assert_eq!(one.action, "inbox");
        assert_eq!(
            one.rules_json,
            r#"[{"name":"HTML_ONLY","score":1.5,"detail":""}]"#
        );
    }
}
