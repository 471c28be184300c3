//! SPF at MAIL (RFC 7208): the HELO identity (§2.3) and the MAIL FROM identity (§2.4).

use super::AuthResult;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{MessageAuthenticator, SpfOutput, SpfResult};
use std::net::IpAddr;

/// Both SPF results of a transaction, kept by the session for DMARC and the
/// `Authentication-Results:` field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderAuth {
    /// For `postmaster@<HELO name>`; `None` result when the HELO name is an address literal.
    pub helo: SpfOutput,
    /// For the reverse-path; RFC 7208 §2.4: for the null sender it is the HELO identity.
    pub mail_from: SpfOutput,
}

impl SenderAuth {
    /// The reverse-path's domain when SPF passed for it: a sender that proved where it comes
    /// from (the greylist lets a domain that delivered before skip the wait).
    pub fn passed_domain(&self, mail_from: &str) -> Option<String> {
        let (_, domain) = mail_from.rsplit_once('@')?;
        (self.mail_from.result() == SpfResult::Pass).then(|| domain.to_ascii_lowercase())
    }

    /// The identity that failed and the reply text for it, when one did (RFC 7208 §8.4).
    pub fn failure(&self, ip: IpAddr, helo: &str, mail_from: &str) -> Option<String> {
        let (identity, out) = if self.mail_from.result() == SpfResult::Fail {
            (domain_of(mail_from, helo), &self.mail_from)
        } else if self.helo.result() == SpfResult::Fail {
            (helo, &self.helo)
        } else {
            return None;
        };
        let mut text =
            format!("SPF check failed: {identity} does not designate {ip} as a permitted sender");
        if let Some(explanation) = out.explanation() {
            text.push_str(": ");
            // The domain's explanation is shown as text only; keep it on one line.
            text.extend(explanation.chars().filter(|c| !c.is_control()).take(200));
        }
        Some(text)
    }
}

/// The domain of `mail_from`, or `helo` for the null sender.
fn domain_of<'a>(mail_from: &'a str, helo: &'a str) -> &'a str {
    mail_from.rsplit_once('@').map_or(helo, |(_, d)| d)
}

/// The RFC 8601 keyword of an SPF result.
pub(crate) fn summary(r: SpfResult) -> AuthResult {
    match r {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

/// Run SPF for the HELO and MAIL FROM identities of a client at `ip`; `host` is our name
/// (for the `%{r}` macro).
pub async fn check_sender(
    auth: &MessageAuthenticator,
    ip: IpAddr,
    helo: &str,
    host: &str,
    mail_from: &str,
) -> SenderAuth {
    // An address literal (`[192.0.2.1]`) or a bare word has no SPF record to look up.
    let helo_is_domain = helo.contains('.') && !helo.starts_with('[');
    let helo_out = if helo_is_domain {
        auth.verify_spf(SpfParameters::verify_ehlo(ip, helo, host))
            .await
    } else {
        SpfOutput::default()
    };
    let mail_from_out = if mail_from.is_empty() {
        helo_out.clone()
    } else {
        auth.verify_spf(SpfParameters::verify_mail_from(ip, helo, host, mail_from))
            .await
    };
    SenderAuth {
        helo: helo_out,
        mail_from: mail_from_out,
    }
}
