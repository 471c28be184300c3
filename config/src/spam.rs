//! `[spam]`: thresholds and rule weights of the spam scorer (all reloadable).
//!
//! The rule names live here, not in the scorer, so that validation can refuse a misspelt
//! weight without this crate depending on `smtp`; a test in `smtp::policy::spam::rules`
//! keeps the two lists equal.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every rule name the scorer knows, for `[spam.weights]`. `BAYES_SPAM` and `BAYES_HAM` are
/// the most points the per-account classifier adds for a certain spam, and takes away for a
/// certain ham.
pub const SPAM_RULES: &[&str] = &[
    "SPF_FAIL",
    "SPF_SOFTFAIL",
    "SPF_PASS",
    "DKIM_FAIL",
    "DKIM_PASS",
    "DMARC_FAIL",
    "DMARC_PASS",
    "DNSBL_LISTED",
    "HELO_NOT_FQDN",
    "MISSING_DATE",
    "MISSING_MESSAGE_ID",
    "MISSING_FROM",
    "MISSING_SUBJECT",
    "FROM_RETURN_PATH_MISMATCH",
    "FROM_NAME_HAS_OTHER_ADDRESS",
    "FORGED_LOCAL_SENDER",
    "HTML_ONLY",
    "URL_SHORTENER",
    "URL_IP_LITERAL",
    "SUBJECT_ALL_CAPS",
    "SUBJECT_EXCLAMATIONS",
    "MIXED_SCRIPT",
    "INVISIBLE_CHARACTERS",
    "BAYES_SPAM",
    "BAYES_HAM",
];

/// `[spam]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spam {
    /// Score incoming mail at all. Off: no headers, nothing filed to Junk, nothing refused.
    pub enabled: bool,
    /// A recipient whose score (rules plus that account's classifier) reaches this gets the
    /// message in Junk instead of INBOX.
    pub junk_threshold: f64,
    /// A message whose rules score reaches this is refused with 550 at the end of DATA.
    /// The per-account classifier never refuses mail: it only files into Junk.
    pub reject_threshold: f64,
    /// Points per rule by name (see [`SPAM_RULES`]), replacing the built-in weight; 0 turns
    /// a rule off.
    pub weights: BTreeMap<String, f64>,
}

impl Default for Spam {
    fn default() -> Self {
        Self {
            enabled: true,
            junk_threshold: 5.0,
            reject_threshold: 15.0,
            weights: BTreeMap::new(),
        }
    }
}

impl Spam {
    /// Every problem with its key path.
    pub(crate) fn check(&self, err: &mut impl FnMut(&str, String)) {
        for (key, value) in [
            ("spam.junk_threshold", self.junk_threshold),
            ("spam.reject_threshold", self.reject_threshold),
        ] {
            if !value.is_finite() {
                err(key, format!("{value} is not a finite number"));
            }
        }
        if self.junk_threshold.is_finite()
            && self.reject_threshold.is_finite()
            && self.reject_threshold <= self.junk_threshold
        {
            err(
                "spam.reject_threshold",
                format!(
                    "{} must be greater than spam.junk_threshold ({})",
                    self.reject_threshold, self.junk_threshold
                ),
            );
        }
        for (name, weight) in &self.weights {
            let key = format!("spam.weights.{name}");
            if !SPAM_RULES.contains(&name.as_str()) {
                err(&key, format!("`{name}` is not a spam rule"));
            } else if !weight.is_finite() {
                err(&key, format!("{weight} is not a finite number"));
            }
        }
    }
}
