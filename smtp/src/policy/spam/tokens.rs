//! The Bayes tokenizer: what of a message the classifier counts. Words of the subject and of
//! the decoded body text (lowercased; subject words marked apart), URL hosts and their
//! organisational domain, and a few header tokens (From and Reply-To domains, the mailer, the
//! top content type, HTML-only). Each token is counted once per message, and hashed to 64
//! bits by FNV-1a, a fixed function, so the hashes stored by one release are those of the
//! next.
//!
//! Bounded whatever the input: text is already cut to `parsed::MAX_TEXT` characters, words
//! longer than [`MAX_WORD`] become one "long word" token, and at most [`MAX_TOKENS`] distinct
//! tokens are kept (the first ones found). Never panics.

use std::collections::HashSet;

use super::parsed::Parsed;
use super::rules::organisation;

/// Most distinct tokens taken from one message.
pub const MAX_TOKENS: usize = 1000;
/// Longest word counted as itself, in characters.
pub const MAX_WORD: usize = 24;
/// Shortest word counted.
const MIN_WORD: usize = 3;

/// Words too common in any mail to tell spam from ham; counting them only adds noise.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "are", "was", "were", "this", "that", "with", "have",
    "has", "had", "not", "but", "from", "they", "them", "will", "would", "can", "could", "our",
    "all", "any", "there", "their", "what", "which", "when", "who", "been", "its", "also", "into",
    "than", "then", "just", "about", "more", "some", "out", "one", "his", "her", "she", "him",
    "how", "may", "should", "very", "here", "these", "those", "over", "only", "did",
    // URL pieces: the hosts are tokens of their own.
    "http", "https", "www", "com", "net", "org",
];

/// Distinct tokens of a message, in the order found, at most [`MAX_TOKENS`].
pub fn tokens(p: &Parsed) -> Vec<String> {
    let mut t = Tokens {
        seen: HashSet::new(),
        out: Vec::new(),
    };
    if let Some(domain) = p.from_domain() {
        t.push(format!("from:{domain}"));
    }
    if let Some(domain) = p.reply_to.as_deref().and_then(super::parsed::domain_of) {
        t.push(format!("replyto:{domain}"));
    }
    if let Some(mailer) = &p.mailer {
        let first = mailer.split_whitespace().next().unwrap_or("");
        t.push(format!("mailer:{}", first.to_lowercase()));
    }
    if let Some(ct) = &p.content_type {
        t.push(format!("ct:{ct}"));
    }
    if p.html_only {
        t.push("html-only".into());
    }
    for host in &p.url_hosts {
        t.push(format!("url:{host}"));
        t.push(format!("urlorg:{}", organisation(host)));
    }
    if let Some(subject) = &p.subject {
        t.words(subject, "s:");
    }
    t.words(&p.text, "");
    t.out
}

/// The hashes of [`tokens`], as the store keeps them.
pub fn token_hashes(p: &Parsed) -> Vec<i64> {
    tokens(p).iter().map(|t| hash(t)).collect()
}

/// FNV-1a, 64 bits, as a signed integer (SQLite's integer type).
pub fn hash(token: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in token.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h as i64
}

struct Tokens {
    seen: HashSet<String>,
    out: Vec<String>,
}

impl Tokens {
    fn full(&self) -> bool {
        self.out.len() >= MAX_TOKENS
    }

    fn push(&mut self, token: String) {
        if !self.full() && self.seen.insert(token.clone()) {
            self.out.push(token);
        }
    }

    fn words(&mut self, text: &str, prefix: &str) {
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            if self.full() {
                return;
            }
            let chars = word.chars().count();
            if chars < MIN_WORD {
                continue;
            }
            if chars > MAX_WORD {
                // Base64 runs, hashes, glued words: their length class says enough.
                self.push(format!("{prefix}long:{}", chars.min(200) / 10));
                continue;
            }
            if word.chars().all(|c| c.is_ascii_digit()) {
                self.push(format!("{prefix}num:{chars}"));
                continue;
            }
            let lower = word.to_lowercase();
            if STOPWORDS.contains(&lower.as_str()) {
                continue;
            }
            self.push(format!("{prefix}{lower}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(raw: &str) -> Vec<String> {
        tokens(&Parsed::from_raw(raw.as_bytes()))
    }

    #[test]
    fn words_headers_and_urls() {
        let t = of("From: Ann <ann@Example.org>\r\nSubject: Cheap Watches\r\n\
X-Mailer: BulkMail 3.1\r\n\r\nBuy CHEAP watches at https://shop.example.net/x today, \
the best 12345 deal!\r\n");
        for want in [
            "from:example.org",
            "mailer:bulkmail",
            "ct:text/plain",
            "url:shop.example.net",
            "urlorg:example.net",
            "s:cheap",
            "s:watches",
            "buy",
            "cheap",
            "watches",
            "num:5",
            "deal",
        ] {
            assert!(t.iter().any(|x| x == want), "{want} missing from {t:?}");
        }
        assert!(!t.iter().any(|x| x == "the" || x == "at"), "{t:?}");
        // Each token once.
        let distinct: HashSet<&String> = t.iter().collect();
        assert_eq!(distinct.len(), t.len());
    }

    #[test]
    fn encoded_bodies_are_decoded() {
        // "Gratis Geld" in base64 and quoted-printable parts.
        let t = of(
            "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
R3JhdGlzIEdlbGQ=\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\nS=FC=DFe Gr=FC=DFe\r\n--b--\r\n",
        );
        for want in ["gratis", "geld", "süße", "grüße"] {
            assert!(t.iter().any(|x| x == want), "{want} missing from {t:?}");
        }
    }

    #[test]
    fn hostile_input_stays_bounded() {
        // A huge body of distinct words, a giant word, deep nesting, NULs and broken UTF-8.
        let mut raw = String::from("Subject: ");
        raw.push_str(&"A".repeat(100_000));
        raw.push_str("\r\n\r\n");
        for i in 0..200_000 {
            raw.push_str(&format!("w{i}x "));
        }
        raw.push_str(&"z".repeat(1_000_000));
        let t = of(&raw);
        assert_eq!(t.len(), MAX_TOKENS);
        assert!(
            t.iter().all(|x| x.chars().count() <= MAX_WORD + 10),
            "bounded tokens"
        );

        let mut nested = String::new();
        for i in 0..500 {
            nested.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        nested.push_str("hello there\r\n");
        let _ = of(&nested);

        let mut garbage: Vec<u8> = b"Subject: \xff\xfe\x00\r\n\r\n".to_vec();
        garbage.extend((0..=255u8).cycle().take(300_000));
        let t = tokens(&Parsed::from_raw(&garbage));
        assert!(t.len() <= MAX_TOKENS);
        let _ = tokens(&Parsed::from_raw(b""));
        let _ = tokens(&Parsed::from_raw(b"\r\n\r\n\r\n"));
    }

    #[test]
    fn hashes_are_stable() {
        // FNV-1a test vectors: these must never change, or trained counts are lost.
        assert_eq!(hash("") as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a") as u64, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar") as u64, 0x8594_4171_f739_67e8);
    }
}
