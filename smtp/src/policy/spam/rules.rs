//! The weighted rules: each a named check over the [`Parsed`] message and the [`Facts`] the
//! SMTP session knows, giving points (negative for good signs) and a short detail saying why.
//! The names are those of `[spam.weights]` (`mailroom_config::SPAM_RULES`); a test keeps
//! the two lists equal.
//!
//! Pure functions: no I/O. Which domains are ours comes in as `hosted` (asked of the store by
//! the actor).

use std::collections::HashMap;
use std::net::IpAddr;

use super::parsed::{Parsed, domain_of};
use super::{AuthResult, Facts, RuleHit};

/// Every rule: name, built-in weight, what it means.
pub const RULES: &[(&str, f64, &str)] = &[
    (
        "SPF_FAIL",
        3.0,
        "SPF says the client may not send for the sender domain",
    ),
    (
        "SPF_SOFTFAIL",
        1.0,
        "SPF says the client is probably not allowed",
    ),
    ("SPF_PASS", -0.5, "SPF authorises the client"),
    (
        "DKIM_FAIL",
        1.5,
        "a DKIM signature is present but does not verify",
    ),
    ("DKIM_PASS", -1.0, "a DKIM signature verifies"),
    (
        "DMARC_FAIL",
        3.5,
        "the From domain's DMARC policy is not met",
    ),
    (
        "DMARC_PASS",
        -1.5,
        "the From domain is aligned and authenticated",
    ),
    (
        "DNSBL_LISTED",
        3.0,
        "the client is on a DNS block list (per list, at most three)",
    ),
    (
        "HELO_NOT_FQDN",
        1.0,
        "HELO is not a fully qualified name or address literal",
    ),
    (
        "MISSING_DATE",
        1.5,
        "no Date field (RFC 5322 §3.6 requires one)",
    ),
    ("MISSING_MESSAGE_ID", 1.5, "no Message-ID field"),
    (
        "MISSING_FROM",
        2.5,
        "no From address (RFC 5322 §3.6 requires one)",
    ),
    ("MISSING_SUBJECT", 0.5, "no Subject field"),
    (
        "FROM_RETURN_PATH_MISMATCH",
        1.0,
        "From and envelope sender are different organisations",
    ),
    (
        "FROM_NAME_HAS_OTHER_ADDRESS",
        2.0,
        "the From display name shows another domain's address",
    ),
    (
        "FORGED_LOCAL_SENDER",
        5.0,
        "claims to be from one of our domains without authenticating",
    ),
    ("HTML_ONLY", 1.5, "HTML without a plain text part"),
    ("URL_SHORTENER", 1.5, "links through a URL shortener"),
    ("URL_IP_LITERAL", 2.5, "links to a bare IP address"),
    (
        "SUBJECT_ALL_CAPS",
        1.5,
        "the subject is shouted in capitals",
    ),
    (
        "SUBJECT_EXCLAMATIONS",
        1.0,
        "the subject has three or more exclamation marks",
    ),
    (
        "MIXED_SCRIPT",
        2.0,
        "a word mixes Latin letters with Cyrillic or Greek look-alikes",
    ),
    (
        "INVISIBLE_CHARACTERS",
        1.5,
        "zero-width or invisible characters hide words",
    ),
    (
        "BAYES_SPAM",
        5.0,
        "the account's classifier finds it like the mail it moved to Junk",
    ),
    (
        "BAYES_HAM",
        3.0,
        "the account's classifier finds it like the mail it kept",
    ),
];

/// Most DNSBL listings counted.
const MAX_DNSBL: usize = 3;

/// Hosts of well-known URL shorteners: the target is hidden from the reader and from us.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "goo.gl",
    "t.co",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "cutt.ly",
    "rebrand.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "t.ly",
    "s.id",
    "v.gd",
];

/// Rule weights: the built-in ones with the configured overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights(HashMap<&'static str, f64>);

impl Default for Weights {
    fn default() -> Self {
        Self(RULES.iter().map(|(name, w, _)| (*name, *w)).collect())
    }
}

impl Weights {
    /// The built-in weights with `overrides` (from `[spam.weights]`, already validated)
    /// replacing theirs; unknown names are ignored.
    pub fn with_overrides<'a>(overrides: impl IntoIterator<Item = (&'a String, &'a f64)>) -> Self {
        let mut w = Self::default();
        for (name, value) in overrides {
            if let Some((known, _, _)) = RULES.iter().find(|(n, _, _)| n == name) {
                w.0.insert(known, *value);
            }
        }
        w
    }

    /// The weight of rule `name` (0 for an unknown name).
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }
}

/// Collects the hits; a rule weighted 0 is off and is not reported.
struct Hits<'w> {
    weights: &'w Weights,
    hits: Vec<RuleHit>,
}

impl Hits<'_> {
    fn add(&mut self, name: &'static str, times: f64, detail: impl Into<String>) {
        let score = self.weights.get(name) * times;
        if score != 0.0 {
            self.hits.push(RuleHit {
                name,
                score,
                detail: detail.into(),
            });
        }
    }
}

/// Run every rule. `hosted` are the domains among the From and envelope sender domains that
/// this server hosts.
pub fn evaluate(
    parsed: &Parsed,
    facts: &Facts,
    hosted: &[String],
    weights: &Weights,
) -> Vec<RuleHit> {
    let mut h = Hits {
        weights,
        hits: Vec::new(),
    };
    auth(&mut h, facts);
    connection(&mut h, facts);
    headers(&mut h, parsed, facts, hosted);
    content(&mut h, parsed);
    h.hits
}

fn auth(h: &mut Hits<'_>, facts: &Facts) {
    match facts.spf {
        AuthResult::Fail => h.add("SPF_FAIL", 1.0, "spf=fail"),
        AuthResult::SoftFail => h.add("SPF_SOFTFAIL", 1.0, "spf=softfail"),
        AuthResult::Pass => h.add("SPF_PASS", 1.0, "spf=pass"),
        _ => {}
    }
    match facts.dkim {
        AuthResult::Fail | AuthResult::Neutral | AuthResult::SoftFail => {
            h.add("DKIM_FAIL", 1.0, "dkim=fail")
        }
        AuthResult::Pass => h.add("DKIM_PASS", 1.0, "dkim=pass"),
        _ => {}
    }
    match facts.dmarc {
        AuthResult::Fail | AuthResult::Neutral | AuthResult::SoftFail => {
            h.add("DMARC_FAIL", 1.0, "dmarc=fail")
        }
        AuthResult::Pass => h.add("DMARC_PASS", 1.0, "dmarc=pass"),
        _ => {}
    }
}

fn connection(h: &mut Hits<'_>, facts: &Facts) {
    if !facts.dnsbl.is_empty() {
        let listed = &facts.dnsbl[..facts.dnsbl.len().min(MAX_DNSBL)];
        h.add(
            "DNSBL_LISTED",
            listed.len() as f64,
            format!("{} listed by {}", facts.client_ip, listed.join(", ")),
        );
    }
    if !facts.authenticated && !helo_is_fqdn(&facts.helo) {
        h.add(
            "HELO_NOT_FQDN",
            1.0,
            format!("helo={}", printable(&facts.helo, 64)),
        );
    }
}

/// RFC 5321 §4.1.1.1: HELO names a fully qualified domain or gives an address literal.
fn helo_is_fqdn(helo: &str) -> bool {
    let helo = helo.trim();
    if helo.starts_with('[') && helo.ends_with(']') {
        return true;
    }
    if helo.parse::<IpAddr>().is_ok() {
        return false; // a bare address is not a name
    }
    let labels: Vec<&str> = helo.trim_end_matches('.').split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn headers(h: &mut Hits<'_>, p: &Parsed, facts: &Facts, hosted: &[String]) {
    if !p.has_date {
        h.add("MISSING_DATE", 1.0, "");
    }
    if !p.has_message_id {
        h.add("MISSING_MESSAGE_ID", 1.0, "");
    }
    if p.subject.is_none() {
        h.add("MISSING_SUBJECT", 1.0, "");
    }
    let from_domain = p.from_domain();
    let Some(from_domain) = from_domain else {
        h.add("MISSING_FROM", 1.0, "");
        return;
    };
    let sender = facts.mail_from.to_lowercase();
    let sender_domain = domain_of(&sender);
    if let Some(sd) = sender_domain
        && organisation(sd) != organisation(from_domain)
    {
        h.add(
            "FROM_RETURN_PATH_MISMATCH",
            1.0,
            format!("from={from_domain} mail_from={sd}"),
        );
    }
    if let Some(name) = p.from.as_ref().and_then(|f| f.name.as_deref()) {
        let shown = name.to_lowercase();
        let other = shown
            .split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | '"' | '\''))
            .filter_map(domain_of)
            .find(|d| d.contains('.') && organisation(d) != organisation(from_domain));
        if let Some(other) = other {
            h.add(
                "FROM_NAME_HAS_OTHER_ADDRESS",
                1.0,
                format!("name shows {other}, address is at {from_domain}"),
            );
        }
    }
    // A client that logged in was checked by submission; anyone else claiming our domain must
    // prove it by SPF or DKIM.
    let claims_ours = [Some(from_domain), sender_domain]
        .into_iter()
        .flatten()
        .find(|d| hosted.iter().any(|ours| ours.eq_ignore_ascii_case(d)));
    if let Some(ours) = claims_ours
        && !facts.authenticated
        && facts.spf != AuthResult::Pass
        && facts.dkim != AuthResult::Pass
    {
        h.add(
            "FORGED_LOCAL_SENDER",
            1.0,
            format!(
                "{ours} is ours; client {} did not authenticate",
                facts.client_ip
            ),
        );
    }
}

/// The organisational domain, approximated without the public suffix list: the last two
/// labels, or three under a short second-level label of a country code (`example.co.uk`).
pub fn organisation(domain: &str) -> &str {
    let labels: Vec<&str> = domain.rsplitn(4, '.').collect();
    let take = match labels.as_slice() {
        [tld, sld, _, ..] if tld.len() == 2 && sld.len() <= 3 => 3,
        _ => 2,
    };
    if labels.len() <= take {
        return domain;
    }
    let cut: usize = labels[..take].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
    &domain[domain.len() - cut..]
}

fn content(h: &mut Hits<'_>, p: &Parsed) {
    if p.html_only {
        h.add("HTML_ONLY", 1.0, "");
    }
    if let Some(host) = p
        .url_hosts
        .iter()
        .find(|host| SHORTENERS.contains(&host.as_str()))
    {
        h.add("URL_SHORTENER", 1.0, host.clone());
    }
    if let Some(host) = p.url_hosts.iter().find(|host| is_ip_literal(host)) {
        h.add("URL_IP_LITERAL", 1.0, host.clone());
    }
    if let Some(subject) = &p.subject {
        let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
        let upper = letters.iter().filter(|c| c.is_uppercase()).count();
        // Short subjects ("RE: FYI") are not shouting.
        if letters.len() >= 8 && upper * 10 >= letters.len() * 9 {
            h.add("SUBJECT_ALL_CAPS", 1.0, printable(subject, 60));
        }
        if subject.matches('!').count() >= 3 {
            h.add("SUBJECT_EXCLAMATIONS", 1.0, printable(subject, 60));
        }
    }
    let name = p
        .from
        .as_ref()
        .and_then(|f| f.name.as_deref())
        .unwrap_or("");
    let subject = p.subject.as_deref().unwrap_or("");
    if let Some(word) = [subject, name, p.text.as_str()]
        .into_iter()
        .find_map(mixed_script_word)
    {
        h.add("MIXED_SCRIPT", 1.0, word);
    }
    if [subject, name, p.text.as_str()]
        .iter()
        .any(|t| t.chars().any(is_invisible))
    {
        h.add("INVISIBLE_CHARACTERS", 1.0, "");
    }
}

fn is_ip_literal(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Zero-width and formatting characters used to break words up unseen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}'
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Other,
}

fn script(c: char) -> Script {
    match c {
        'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' => Script::Latin,
        '\u{0370}'..='\u{03FF}' => Script::Greek,
        '\u{0400}'..='\u{04FF}' => Script::Cyrillic,
        _ => Script::Other,
    }
}

/// The first word (of the first 64 KiB) that mixes Latin with Greek or Cyrillic letters, as
/// in `Pаypal` with a Cyrillic `а`: a look-alike meant to pass a word filter or a reader.
fn mixed_script_word(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .take(20_000)
        .find(|word| {
            let mut latin = false;
            let mut other = false;
            for c in word.chars() {
                match script(c) {
                    Script::Latin => latin = true,
                    Script::Greek | Script::Cyrillic => other = true,
                    Script::Other => {}
                }
            }
            latin && other
        })
        .map(|w| printable(w, 40))
}

/// At most `chars` characters of `text` with control characters replaced, for a detail
/// that ends up in a header and the admin panel.
fn printable(text: &str, chars: usize) -> String {
    text.chars()
        .take(chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::spam::tests::facts;

    const GOOD: &str = "From: Ann <ann@example.org>\r\nTo: bob@example.test\r\n\
Subject: Lunch on Friday\r\nDate: Mon, 6 Mar 2023 10:00:00 +0000\r\n\
Message-ID: <1@example.org>\r\n\r\nShall we meet at noon?\r\n";

    /// The names of the rules that fire for `raw` with `facts`, with example.test hosted.
    fn fired(raw: &str, facts: &Facts) -> Vec<&'static str> {
        let p = Parsed::from_raw(raw.as_bytes());
        let hosted: Vec<String> = [p.from_domain(), domain_of(&facts.mail_from)]
            .into_iter()
            .flatten()
            .filter(|d| *d == "example.test")
            .map(str::to_string)
            .collect();
        evaluate(&p, facts, &hosted, &Weights::default())
            .iter()
            .map(|h| h.name)
            .collect()
    }

    #[test]
    fn rule_names_match_the_config_list() {
        let ours: Vec<&str> = RULES.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(ours, mailroom_config::SPAM_RULES);
    }

    #[test]
    fn a_plain_good_message_fires_nothing() {
        assert_eq!(fired(GOOD, &facts()), Vec::<&str>::new());
    }

    #[test]
    fn authentication_results() {
        let mut f = facts();
        f.spf = AuthResult::Fail;
        f.dkim = AuthResult::Fail;
        f.dmarc = AuthResult::Fail;
        assert_eq!(fired(GOOD, &f), ["SPF_FAIL", "DKIM_FAIL", "DMARC_FAIL"]);
        f.spf = AuthResult::SoftFail;
        f.dkim = AuthResult::TempError;
        f.dmarc = AuthResult::None;
        assert_eq!(fired(GOOD, &f), ["SPF_SOFTFAIL"]);
        f.spf = AuthResult::Pass;
        f.dkim = AuthResult::Pass;
        f.dmarc = AuthResult::Pass;
        assert_eq!(fired(GOOD, &f), ["SPF_PASS", "DKIM_PASS", "DMARC_PASS"]);
        let p = Parsed::from_raw(GOOD.as_bytes());
        let score: f64 = evaluate(&p, &f, &[], &Weights::default())
            .iter()
            .map(|h| h.score)
            .sum();
        assert!(
            score < 0.0,
            "passing authentication lowers the score: {score}"
        );
    }

    #[test]
    fn dnsbl_counts_each_list_up_to_three() {
        let mut f = facts();
        f.dnsbl = vec!["a.test".into(), "b.test".into()];
        let p = Parsed::from_raw(GOOD.as_bytes());
        let hits = evaluate(&p, &f, &[], &Weights::default());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].name, "DNSBL_LISTED");
        assert_eq!(hits[0].score, 6.0);
        assert!(
            hits[0].detail.contains("a.test, b.test"),
            "{}",
            hits[0].detail
        );
        f.dnsbl = (0..10).map(|i| format!("l{i}.test")).collect();
        let hits = evaluate(&p, &f, &[], &Weights::default());
        assert_eq!(hits[0].score, 9.0);
    }

    #[test]
    fn helo() {
        for (helo, bad) in [
            ("mx.example.org", false),
            ("[192.0.2.1]", false),
            ("localhost", true),
            ("192.0.2.1", true),
            ("", true),
            ("bad_name.example", true),
        ] {
            let mut f = facts();
            f.helo = helo.into();
            assert_eq!(fired(GOOD, &f).contains(&"HELO_NOT_FQDN"), bad, "{helo}");
        }
    }

    #[test]
    fn missing_headers() {
        let no_date = GOOD.replace("Date: Mon, 6 Mar 2023 10:00:00 +0000\r\n", "");
        assert_eq!(fired(&no_date, &facts()), ["MISSING_DATE"]);
        let no_id = GOOD.replace("Message-ID: <1@example.org>\r\n", "");
        assert_eq!(fired(&no_id, &facts()), ["MISSING_MESSAGE_ID"]);
        let no_subject = GOOD.replace("Subject: Lunch on Friday\r\n", "");
        assert_eq!(fired(&no_subject, &facts()), ["MISSING_SUBJECT"]);
        let no_from = GOOD.replace("From: Ann <ann@example.org>\r\n", "");
        assert_eq!(fired(&no_from, &facts()), ["MISSING_FROM"]);
    }

    #[test]
    fn from_and_envelope_sender() {
        let mut f = facts();
        f.mail_from = "bounce@mailer.example.net".into();
        assert_eq!(fired(GOOD, &f), ["FROM_RETURN_PATH_MISMATCH"]);
        // Same organisation, other host: fine.
        f.mail_from = "bounces@lists.example.org".into();
        assert_eq!(fired(GOOD, &f), Vec::<&str>::new());
        // The null sender (bounces) has no domain to compare.
        f.mail_from = String::new();
        assert_eq!(fired(GOOD, &f), Vec::<&str>::new());
        assert_eq!(organisation("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(organisation("mail.example.org"), "example.org");
        assert_eq!(organisation("org"), "org");
    }

    #[test]
    fn display_name_showing_another_address() {
        let raw = GOOD.replace(
            "From: Ann <ann@example.org>",
            "From: \"service@paypal.example\" <x@evil.example>",
        );
        let mut f = facts();
        f.mail_from = "x@evil.example".into();
        assert_eq!(fired(&raw, &f), ["FROM_NAME_HAS_OTHER_ADDRESS"]);
        // Her own address in the name is fine.
        let raw = GOOD.replace("From: Ann <", "From: \"ann@example.org\" <");
        assert_eq!(fired(&raw, &facts()), Vec::<&str>::new());
    }

    #[test]
    fn forged_local_sender() {
        let raw = GOOD.replace("ann@example.org", "ceo@example.test");
        let mut f = facts();
        f.mail_from = "ceo@example.test".into();
        assert_eq!(fired(&raw, &f), ["FORGED_LOCAL_SENDER"]);
        f.spf = AuthResult::Pass;
        assert_eq!(fired(&raw, &f), ["SPF_PASS"], "SPF proves it");
        f.spf = AuthResult::None;
        f.authenticated = true;
        assert_eq!(fired(&raw, &f), Vec::<&str>::new(), "a logged-in client");
    }

    #[test]
    fn html_only_and_urls() {
        let html = "From: Ann <ann@example.org>\r\nSubject: Hi\r\n\
Date: Mon, 6 Mar 2023 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\
Content-Type: text/html\r\n\r\n<a href=\"http://bit.ly/abc\">x</a> \
<a href=\"http://203.0.113.9/login\">y</a>\r\n";
        assert_eq!(
            fired(html, &facts()),
            ["HTML_ONLY", "URL_SHORTENER", "URL_IP_LITERAL"]
        );
        let alternative = "From: Ann <ann@example.org>\r\nSubject: Hi\r\n\
Date: Mon, 6 Mar 2023 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
hello https://example.org/x\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--b--\r\n";
        assert_eq!(fired(alternative, &facts()), Vec::<&str>::new());
    }

    #[test]
    fn shouting_subjects() {
        let caps = GOOD.replace("Lunch on Friday", "YOU HAVE WON A PRIZE");
        assert_eq!(fired(&caps, &facts()), ["SUBJECT_ALL_CAPS"]);
        let short = GOOD.replace("Lunch on Friday", "RE: FYI");
        assert_eq!(fired(&short, &facts()), Vec::<&str>::new());
        let bangs = GOOD.replace("Lunch on Friday", "Act now!!! Free!");
        assert_eq!(fired(&bangs, &facts()), ["SUBJECT_EXCLAMATIONS"]);
    }

    #[test]
    fn character_set_tricks() {
        // "Pаypal" with a Cyrillic а (U+0430), encoded as RFC 2047 UTF-8.
        let mixed = GOOD.replace("Lunch on Friday", "=?utf-8?b?UNCweXBhbCBub3RpY2U=?=");
        assert_eq!(fired(&mixed, &facts()), ["MIXED_SCRIPT"]);
        // A Russian word on its own is not a trick.
        let russian = GOOD.replace("Lunch on Friday", "=?utf-8?b?0J/RgNC40LLQtdGC?=");
        assert_eq!(fired(&russian, &facts()), Vec::<&str>::new());
        let hidden = GOOD.replace("Shall we meet", "Fr\u{200B}ee mon\u{200B}ey");
        assert_eq!(fired(&hidden, &facts()), ["INVISIBLE_CHARACTERS"]);
    }

    #[test]
    fn weights_override_and_zero_turns_off() {
        let no_date = GOOD.replace("Date: Mon, 6 Mar 2023 10:00:00 +0000\r\n", "");
        let p = Parsed::from_raw(no_date.as_bytes());
        let overrides = [("MISSING_DATE".to_string(), 0.25)];
        let w = Weights::with_overrides(overrides.iter().map(|(k, v)| (k, v)));
        let hits = evaluate(&p, &facts(), &[], &w);
        assert_eq!(hits[0].score, 0.25);
        let off = [("MISSING_DATE".to_string(), 0.0)];
        let w = Weights::with_overrides(off.iter().map(|(k, v)| (k, v)));
        assert!(evaluate(&p, &facts(), &[], &w).is_empty());
    }
}
