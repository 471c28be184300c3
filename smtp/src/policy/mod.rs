//! Inbound policy for the MX listener: who the client and the message say they are, and what
//! to do about it. SPF (RFC 7208) for the HELO and MAIL FROM identities at MAIL; DKIM
//! (RFC 6376), ARC (RFC 8617) and DMARC (RFC 7489, with the DNS tree walk of DMARCbis for the
//! organizational domain, as mail-auth does it) after the data; the `Authentication-Results:`
//! field (RFC 8601) that records them; DNS block lists (RFC 5782) at connect.
//!
//! The checks run in the connection driver (they wait on DNS) through the one resolver of the
//! process; their results go back into the sans-I/O session as plain values ([`SenderAuth`],
//! [`Verdict`], [`Listing`]), and the session turns them into replies. Nothing here writes a
//! reply or keeps state between messages. A DNS failure never refuses mail: it becomes a
//! `temperror` result and the message is accepted.
//!
//! The [`Verdict`] is meant to be extended: the spam scorer adds its score and headers to the
//! same value before the session applies it, and reads [`AuthSummary`] for its rules.
//! Greylisting and spam scoring are actors of their own ([`greylist`], [`spam`]) that also
//! learn from delivery events.

mod dnsbl;
pub mod greylist;
mod headers;
mod inspect;
pub mod spam;
mod spf;

pub use dnsbl::{Listing, check_client};
pub use headers::{strip_our_results, strip_spam_fields};
pub use inspect::{Inspection, inspect};
pub use spf::{SenderAuth, check_sender};

use mailroom_config::OnReject;

/// One method's result, as RFC 8601 §2.7 names them, owned and small for rules to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthResult {
    /// Not checked, or nothing to check (no record, no signature).
    #[default]
    None,
    /// Verified.
    Pass,
    /// Checked and failed.
    Fail,
    /// SPF `~all`.
    SoftFail,
    /// SPF `?all`, or a DKIM signature that could not be evaluated.
    Neutral,
    /// A DNS error that may go away.
    TempError,
    /// A broken record or signature.
    PermError,
}

impl AuthResult {
    /// The RFC 8601 result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::None => "none",
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
        }
    }
}

/// The DMARC policy the From domain published (RFC 7489 §6.3 `p=`/`sp=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DmarcPolicy {
    /// No record, or `p=none`.
    #[default]
    None,
    /// `p=quarantine`.
    Quarantine,
    /// `p=reject`.
    Reject,
}

impl DmarcPolicy {
    /// The tag value, for texts and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

/// What the authentication checks found, for the spam scorer's rules and for logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthSummary {
    /// SPF for the HELO identity (RFC 7208 §2.3).
    pub spf_helo: AuthResult,
    /// SPF for the MAIL FROM identity (RFC 7208 §2.4).
    pub spf_mail_from: AuthResult,
    /// DKIM: `pass` when any signature verified, else the first signature's result.
    pub dkim: AuthResult,
    /// The ARC chain.
    pub arc: AuthResult,
    /// DMARC of the From domain.
    pub dmarc: AuthResult,
    /// The policy the From domain asks for.
    pub dmarc_policy: DmarcPolicy,
    /// The RFC 5322 From domain DMARC evaluated (empty when none).
    pub from_domain: String,
}

/// Where the message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Into each recipient's INBOX.
    Deliver,
    /// Into each recipient's Junk mailbox.
    Junk,
    /// Refused at the end of data with `550 5.7.1` and this text.
    Reject(String),
}

/// The outcome of inspecting a received message.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Header fields to add after the trace fields, each ending in CRLF (our
    /// `Authentication-Results:`, then the spam scorer's `X-Spam-*`).
    pub headers: Vec<u8>,
    /// What to do with it.
    pub disposition: Disposition,
    /// The results behind it.
    pub auth: AuthSummary,
    /// The value of our `Authentication-Results:` field, unfolded, when authentication ran.
    pub auth_results: Option<String>,
    /// Recipients whose own copy goes to Junk although the message as a whole is delivered
    /// (their spam score, with what they taught the classifier, reached the threshold).
    pub junk: Vec<i64>,
    /// The spam score, when the message was scored (for the `Delivered` event).
    pub spam_score: Option<f64>,
}

impl Verdict {
    /// The verdict of a message nothing was checked on: delivered as it is.
    pub fn unchecked() -> Self {
        Self {
            headers: Vec::new(),
            disposition: Disposition::Deliver,
            auth: AuthSummary::default(),
            auth_results: None,
            junk: Vec::new(),
            spam_score: None,
        }
    }

    /// Add the spam scorer's verdict: its header fields after ours, its refusal unless the
    /// message is refused already, and the recipients it files in Junk.
    pub fn add_spam(&mut self, spam: &spam::SpamVerdict, reject_threshold: f64) {
        self.headers.extend_from_slice(&spam.headers);
        self.spam_score = Some(match spam.per_account.as_slice() {
            [only] => only.score,
            _ => spam.rules_score,
        });
        if spam.reject && !matches!(self.disposition, Disposition::Reject(_)) {
            self.disposition = Disposition::Reject(format!(
                "message refused as spam: it scores {:.1}, the limit is {reject_threshold:.1}",
                spam.rules_score
            ));
        }
        self.junk = spam.junk();
    }
}

/// What the spam rules need of the authentication results and the session.
pub fn spam_facts(inspection: &Inspection, auth: &AuthSummary) -> spam::Facts {
    spam::Facts {
        mail_from: inspection.mail_from.clone(),
        client_ip: inspection.peer,
        helo: inspection.helo.clone(),
        authenticated: false,
        spf: auth.spf_mail_from,
        dkim: auth.dkim,
        dmarc: auth.dmarc,
        // A listed client was refused at connect: a session that got this far is not.
        dnsbl: Vec::new(),
    }
}

/// What the DMARC result asks for under `[dmarc] on_reject` (RFC 7489 §6.3, §6.7: the
/// receiver applies the policy to mail that fails, and may be more lenient).
pub fn disposition(auth: &AuthSummary, on_reject: OnReject) -> Disposition {
    if auth.dmarc != AuthResult::Fail {
        return Disposition::Deliver;
    }
    match (auth.dmarc_policy, on_reject) {
        (DmarcPolicy::None, _) => Disposition::Deliver,
        (DmarcPolicy::Quarantine, _) | (DmarcPolicy::Reject, OnReject::Quarantine) => {
            Disposition::Junk
        }
        (DmarcPolicy::Reject, OnReject::Mark) => Disposition::Deliver,
        (DmarcPolicy::Reject, OnReject::Reject) => Disposition::Reject(format!(
            "message refused: it fails the DMARC policy (p=reject) of {}",
            auth.from_domain
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmarc_outcomes() {
        let auth = |dmarc, dmarc_policy| AuthSummary {
            dmarc,
            dmarc_policy,
            from_domain: "example.org".into(),
            ..AuthSummary::default()
        };
        use AuthResult::*;
        use DmarcPolicy as P;
        let reject = Disposition::Reject(
            "message refused: it fails the DMARC policy (p=reject) of example.org".into(),
        );
        for (result, policy, on_reject, want) in [
            (Fail, P::Reject, OnReject::Reject, reject),
            (Fail, P::Reject, OnReject::Quarantine, Disposition::Junk),
            (Fail, P::Reject, OnReject::Mark, Disposition::Deliver),
            (Fail, P::Quarantine, OnReject::Reject, Disposition::Junk),
            (Fail, P::Quarantine, OnReject::Mark, Disposition::Junk),
            (Fail, P::None, OnReject::Reject, Disposition::Deliver),
            (Pass, P::Reject, OnReject::Reject, Disposition::Deliver),
            // A DNS error never refuses mail.
            (TempError, P::Reject, OnReject::Reject, Disposition::Deliver),
            (None, P::None, OnReject::Reject, Disposition::Deliver),
        ] {
            assert_eq!(
                disposition(&auth(result, policy), on_reject),
                want,
                "{result:?} {policy:?} {on_reject:?}"
            );
        }
    }
}
