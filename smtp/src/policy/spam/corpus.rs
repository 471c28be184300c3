//! The corpus test: every message of `tests/data/spam/spam` must score clearly above the
//! junk threshold on the rules alone, and every one of `tests/data/spam/ham` clearly below
//! it. The messages are our own, written to show the tricks the rules look for (and the
//! ordinary mail they must leave alone); add one whenever a rule changes.
//!
//! Each message is scored as if it came from an outside client that passed no
//! authentication check and no block list, with the `Return-Path:` of the file as the
//! envelope sender and `example.test` as our only domain.

use std::path::{Path, PathBuf};

use super::parsed::Parsed;
use super::tests::facts;
use super::{Settings, claimed_domains, rules};

/// Spam scores at least this much above the junk threshold…
const SPAM_MARGIN: f64 = 1.0;
/// …and ham at least this much below it.
const HAM_MARGIN: f64 = 2.0;

fn corpus(class: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/spam")
        .join(class);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
}

/// The rules score of one corpus file, and the names that fired.
fn score(path: &Path) -> (f64, Vec<&'static str>) {
    let raw = std::fs::read(path).expect("read");
    let parsed = Parsed::from_raw(&raw);
    let mut f = facts();
    f.mail_from = mail_parser::MessageParser::default()
        .parse(&raw)
        .and_then(|m| m.return_address().map(str::to_string))
        .unwrap_or_default();
    let hosted: Vec<String> = claimed_domains(&parsed, &f)
        .into_iter()
        .filter(|d| d == "example.test")
        .collect();
    let hits = rules::evaluate(&parsed, &f, &hosted, &Settings::default().weights);
    (
        hits.iter().fold(0.0, |t, h| t + h.score),
        hits.iter().map(|h| h.name).collect(),
    )
}

#[test]
fn corpus_is_scored_with_a_clear_gap() {
    let junk = Settings::default().junk_threshold;
    let (spam, ham) = (corpus("spam"), corpus("ham"));
    assert!(
        spam.len() >= 12 && ham.len() >= 12,
        "{} spam, {} ham",
        spam.len(),
        ham.len()
    );
    let mut report = String::new();
    let mut bad = Vec::new();
    let (mut lowest_spam, mut highest_ham) = (f64::MAX, f64::MIN);
    for (files, is_spam) in [(&spam, true), (&ham, false)] {
        for path in files {
            let (s, names) = score(path);
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            report.push_str(&format!("{s:5.1} {name} {names:?}\n"));
            if is_spam {
                lowest_spam = lowest_spam.min(s);
                if s < junk + SPAM_MARGIN {
                    bad.push(name.to_string());
                }
            } else {
                highest_ham = highest_ham.max(s);
                if s > junk - HAM_MARGIN {
                    bad.push(name.to_string());
                }
            }
        }
    }
    // `cargo test corpus -- --nocapture` shows the table.
    println!("{report}");
    assert!(bad.is_empty(), "misjudged: {bad:?}\n{report}");
    assert!(
        lowest_spam - highest_ham >= SPAM_MARGIN + HAM_MARGIN,
        "{report}"
    );
}
