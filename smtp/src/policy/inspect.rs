//! After the data: DKIM for every signature (RFC 6376 §6), the ARC chain (RFC 8617 §5.2),
//! DMARC of the From domain (RFC 7489 §6.6), and the `Authentication-Results:` field
//! (RFC 8601) that reports them with the SPF results from MAIL.

use super::spf::summary as spf_summary;
use super::{AuthResult, AuthSummary, DmarcPolicy, SenderAuth, Verdict, disposition};
use mail_auth::arc::ArcError;
use mail_auth::dkim::DkimError;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcResult,
    MessageAuthenticator, Parameters, SpfOutput,
};
use mailroom_config::OnReject;
use std::net::IpAddr;

/// What the inspection step needs; the session hands it out with `Action::Inspect` and gets
/// it back (with the data) in `Session::inspected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The client's data as received (dot-unstuffed), without our trace fields.
    pub data: Vec<u8>,
    /// The client's address.
    pub peer: IpAddr,
    /// The EHLO/HELO name.
    pub helo: String,
    /// The reverse-path; empty for `<>`.
    pub mail_from: String,
    /// The SPF results of MAIL.
    pub sender: SenderAuth,
    /// The local recipients' accounts, each once (for the spam scorer).
    pub accounts: Vec<i64>,
}

fn dkim_summary(r: &DkimResult) -> AuthResult {
    match r {
        DkimResult::Pass => AuthResult::Pass,
        DkimResult::Neutral(_) => AuthResult::Neutral,
        DkimResult::Fail(_) => AuthResult::Fail,
        DkimResult::PermError(_) => AuthResult::PermError,
        DkimResult::TempError(_) => AuthResult::TempError,
        DkimResult::None => AuthResult::None,
    }
}

fn dmarc_summary(r: &DmarcResult) -> AuthResult {
    match r {
        DmarcResult::Pass => AuthResult::Pass,
        DmarcResult::Fail(_) => AuthResult::Fail,
        DmarcResult::TempError(_) => AuthResult::TempError,
        DmarcResult::PermError(_) => AuthResult::PermError,
        DmarcResult::None => AuthResult::None,
    }
}

/// RFC 6376 §6.1.3: a body hash that does not match fails the signature (mail-auth reports it
/// as `neutral`); RFC 8601 §2.7.1 calls a signature that failed verification `fail`.
fn body_hash_fails<'m>(
    message: &'m AuthenticatedMessage<'m>,
    out: DkimOutput<'m>,
) -> DkimOutput<'m> {
    let DkimResult::Neutral(e @ mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch)) =
        out.result()
    else {
        return out;
    };
    // The signature the output names, borrowed from the message rather than from `out`.
    let signature = out.signature().and_then(|sig| {
        message
            .dkim_headers
            .iter()
            .map(|h| &h.header)
            .find(|own| std::ptr::eq(*own, sig))
    });
    match signature {
        Some(signature) => DkimOutput::fail(e.clone()).with_signature(signature),
        None => out,
    }
}

/// The `;`-separated results of one builder call, without the authserv-id in front: we
/// assemble the field ourselves so that every method appears, `none` included.
fn part(host: &str, r: AuthenticationResults<'_>) -> String {
    let text = r.to_string();
    text.strip_prefix(host).unwrap_or(&text).to_string()
}

/// Check the message and decide what happens to it. `host` is our authserv-id.
pub async fn inspect(
    auth: &MessageAuthenticator,
    host: &str,
    i: &Inspection,
    on_reject: OnReject,
) -> Verdict {
    let mut summary = AuthSummary {
        spf_helo: spf_summary(i.sender.helo.result()),
        spf_mail_from: spf_summary(i.sender.mail_from.result()),
        ..AuthSummary::default()
    };
    let mut field = format!("Authentication-Results: {host}");
    // RFC 8601 §2.2: the SPF results, then what the message itself carries.
    if !i.helo.starts_with('[') && i.helo.contains('.') {
        field.push_str(&part(
            host,
            AuthenticationResults::new(host).with_spf_ehlo_result(&i.sender.helo, i.peer, &i.helo),
        ));
    }
    field.push_str(&part(
        host,
        AuthenticationResults::new(host).with_spf_mailfrom_result(
            &i.sender.mail_from,
            i.peer,
            &i.mail_from,
            &i.helo,
        ),
    ));
    match AuthenticatedMessage::parse(&i.data) {
        None => {
            // Not even a header section: nothing to verify.
            field.push_str(";\r\n\tdkim=none;\r\n\tarc=none;\r\n\tdmarc=none");
        }
        Some(message) => {
            let dkim: Vec<DkimOutput<'_>> = auth
                .verify_dkim(&message)
                .await
                .into_iter()
                .map(|out| body_hash_fails(&message, out))
                .collect();
            let arc = auth.verify_arc(&message).await;
            // RFC 8617 §5.2: an AMS that does not verify (its body hash included) fails the chain.
            let arc = match arc.result() {
                DkimResult::Neutral(e @ mail_auth::Error::Arc(ArcError::FailedBodyHashMatch)) => {
                    let e = e.clone();
                    arc.with_result(DkimResult::Fail(e))
                }
                _ => arc,
            };
            let mail_from_domain = i
                .mail_from
                .rsplit_once('@')
                .map_or(i.helo.as_str(), |(_, d)| d);
            let spf_for_dmarc: &SpfOutput = &i.sender.mail_from;
            let dmarc = auth
                .verify_dmarc(Parameters::new(DmarcParameters {
                    message: &message,
                    dkim_output: &dkim,
                    dkim2_output: None,
                    rfc5321_mail_from_domain: mail_from_domain,
                    spf_output: spf_for_dmarc,
                }))
                .await;
            summary.dkim = if dkim.iter().any(|d| *d.result() == DkimResult::Pass) {
                AuthResult::Pass
            } else {
                dkim.first()
                    .map_or(AuthResult::None, |d| dkim_summary(d.result()))
            };
            summary.arc = dkim_summary(arc.result());
            summary.dmarc = dmarc_summary(&dmarc.result());
            summary.dmarc_policy = match dmarc.policy() {
                Policy::Reject => DmarcPolicy::Reject,
                Policy::Quarantine => DmarcPolicy::Quarantine,
                Policy::None | Policy::Unspecified => DmarcPolicy::None,
            };
            summary.from_domain = dmarc.domain().to_string();
            if dkim.is_empty() {
                field.push_str(";\r\n\tdkim=none");
            } else {
                field.push_str(&part(
                    host,
                    AuthenticationResults::new(host).with_dkim_results(&dkim, dmarc.domain()),
                ));
            }
            field.push_str(&part(
                host,
                AuthenticationResults::new(host).with_arc_result(&arc, i.peer),
            ));
            if dmarc.domain().is_empty() {
                // No (single) From domain: DMARC does not apply (RFC 7489 §6.6.1).
                field.push_str(";\r\n\tdmarc=none");
            } else {
                field.push_str(&part(
                    host,
                    AuthenticationResults::new(host).with_dmarc_result(&dmarc),
                ));
            }
        }
    }
    // The value for the `Delivered` event: after the name, on one line.
    let value = field["Authentication-Results:".len()..]
        .trim_start()
        .replace("\r\n\t", " ");
    field.push_str("\r\n");
    Verdict {
        headers: field.into_bytes(),
        auth_results: Some(value),
        disposition: disposition(&summary, on_reject),
        auth: summary,
        junk: Vec::new(),
        spam_score: None,
    }
}
