//! The per-account classifier: Robinson's token probabilities combined by Fisher's method
//! (the chi-square combining of SpamBayes), from the counts the store keeps per account.
//!
//! - No contribution until the account has trained [`MIN_TRAINED`] messages.
//! - With both classes trained ([`MIN_PER_CLASS`] each), each token known to the account gets
//!   f(w) = (s·x + n·p(w)) / (s + n), p(w) = spam ratio / (spam ratio + ham ratio), and the
//!   `MAX_CLUES` (150) tokens furthest from ½ are combined into one probability.
//! - With one class only (a user who has only ever moved mail into Junk), the counts cannot
//!   say what ham looks like, and every common word would look spammy. Then the classifier
//!   measures likeness instead: the mean share of the trained messages that contain each of
//!   the message's tokens (unknown tokens count 0). A copy of a trained campaign shares most
//!   of its tokens with most trained messages; unrelated mail shares a few words with a few.
//!
//! The probability maps to points: above ½ up to `BAYES_SPAM`, below ½ down to minus
//! `BAYES_HAM` (see [`points`]).

use mailroom_store::spam::BayesCounts;

use super::rules::Weights;

/// Trained messages (both classes) before the classifier says anything.
pub const MIN_TRAINED: u64 = 10;
/// Messages of each class before the two-class method is used.
pub const MIN_PER_CLASS: u64 = 5;
/// Robinson's s: how strongly the prior x pulls a rare token's probability.
const STRENGTH: f64 = 1.0;
/// Robinson's x: the probability of a token never seen.
const ASSUMED: f64 = 0.5;
/// Tokens closer to ½ than this are not clues.
const MIN_DEVIATION: f64 = 0.1;
/// Most clues combined.
const MAX_CLUES: usize = 150;
/// One-class likeness at or below which a message is not like the trained ones at all, and
/// at or above which it is as like them as can be.
const LIKENESS_NONE: f64 = 0.1;
const LIKENESS_FULL: f64 = 0.5;

/// The probability that the message with `tokens` is spam for the account with `counts`, or
/// `None` when the account has not trained enough to say.
pub fn probability(counts: &BayesCounts, tokens: &[i64]) -> Option<f64> {
    let (ns, nh) = (counts.spam_messages, counts.ham_messages);
    if ns + nh < MIN_TRAINED {
        return None;
    }
    if ns >= MIN_PER_CLASS && nh >= MIN_PER_CLASS {
        return Some(fisher(counts, tokens));
    }
    if tokens.is_empty() {
        return Some(0.5);
    }
    // One class: how like the trained messages this one is, towards that class.
    let (trained, spam_side) = if ns >= nh { (ns, true) } else { (nh, false) };
    let share: f64 = tokens
        .iter()
        .filter_map(|t| counts.tokens.get(t))
        .map(|&(s, h)| {
            let n = if spam_side { s } else { h };
            (n as f64 / trained as f64).min(1.0)
        })
        .sum::<f64>()
        / tokens.len() as f64;
    let likeness = ((share - LIKENESS_NONE) / (LIKENESS_FULL - LIKENESS_NONE)).clamp(0.0, 1.0);
    Some(if spam_side {
        0.5 + likeness / 2.0
    } else {
        0.5 - likeness / 2.0
    })
}

fn fisher(counts: &BayesCounts, tokens: &[i64]) -> f64 {
    let ns = counts.spam_messages as f64;
    let nh = counts.ham_messages as f64;
    let mut clues: Vec<f64> = tokens
        .iter()
        .filter_map(|t| counts.tokens.get(t))
        .filter_map(|&(s, h)| {
            let spam_ratio = (s as f64 / ns).min(1.0);
            let ham_ratio = (h as f64 / nh).min(1.0);
            if spam_ratio + ham_ratio == 0.0 {
                return None;
            }
            let p = spam_ratio / (spam_ratio + ham_ratio);
            let n = (s + h) as f64;
            let f = (STRENGTH * ASSUMED + n * p) / (STRENGTH + n);
            ((f - 0.5).abs() >= MIN_DEVIATION).then_some(f.clamp(0.01, 0.99))
        })
        .collect();
    if clues.is_empty() {
        return 0.5;
    }
    clues.sort_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
    clues.truncate(MAX_CLUES);
    let n = clues.len();
    let ln_spam: f64 = clues.iter().map(|f| f.ln()).sum();
    let ln_ham: f64 = clues.iter().map(|f| (1.0 - f).ln()).sum();
    // SpamBayes: S near 1 when the clues are spammy, H near 1 when they are hammy.
    let s = 1.0 - chi2_q(-2.0 * ln_ham, 2 * n);
    let h = 1.0 - chi2_q(-2.0 * ln_spam, 2 * n);
    ((s - h + 1.0) / 2.0).clamp(0.0, 1.0)
}

/// The probability that a chi-square variable with `dof` (even) degrees of freedom is at
/// least `x`.
fn chi2_q(x: f64, dof: usize) -> f64 {
    let m = x / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..dof / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// Score points for probability `p`: `BAYES_SPAM` at 1, 0 at ½, minus `BAYES_HAM` at 0.
pub fn points(p: f64, weights: &Weights) -> f64 {
    if p >= 0.5 {
        (p - 0.5) * 2.0 * weights.get("BAYES_SPAM")
    } else {
        -(0.5 - p) * 2.0 * weights.get("BAYES_HAM")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::spam::parsed::Parsed;
    use crate::policy::spam::tokens::token_hashes;
    use std::collections::HashMap;

    /// Counts as the store would hold them after training these messages.
    fn trained(spam: &[Vec<i64>], ham: &[Vec<i64>]) -> BayesCounts {
        let mut tokens: HashMap<i64, (u64, u64)> = HashMap::new();
        for m in spam {
            for t in m {
                tokens.entry(*t).or_default().0 += 1;
            }
        }
        for m in ham {
            for t in m {
                tokens.entry(*t).or_default().1 += 1;
            }
        }
        BayesCounts {
            spam_messages: spam.len() as u64,
            ham_messages: ham.len() as u64,
            tokens,
        }
    }

    fn spam_like(i: usize) -> Vec<i64> {
        token_hashes(&Parsed::from_raw(
            format!(
                "From: deals{i}@promo.example\r\nSubject: Exclusive casino bonus {i}\r\n\r\n\
Claim your exclusive casino bonus now. Free spins, jackpot winnings, instant payout. \
Visit https://casino{i}.example/claim to claim bonus code {i}.\r\n"
            )
            .as_bytes(),
        ))
    }

    fn ham_like(i: usize) -> Vec<i64> {
        token_hashes(&Parsed::from_raw(
            format!(
                "From: colleague{i}@work.example\r\nSubject: Meeting notes {i}\r\n\r\n\
Attached are the notes from Tuesday's planning meeting. Please review the budget \
section and the project timeline before Thursday. Thanks, Sam\r\n"
            )
            .as_bytes(),
        ))
    }

    #[test]
    fn untrained_accounts_contribute_nothing() {
        assert_eq!(probability(&BayesCounts::default(), &spam_like(1)), None);
        let few: Vec<Vec<i64>> = (0..MIN_TRAINED as usize - 1).map(spam_like).collect();
        assert_eq!(probability(&trained(&few, &[]), &spam_like(100)), None);
    }

    #[test]
    fn trained_on_both_it_tells_them_apart() {
        let spam: Vec<Vec<i64>> = (0..20).map(spam_like).collect();
        let ham: Vec<Vec<i64>> = (0..20).map(ham_like).collect();
        let counts = trained(&spam, &ham);
        let p_spam = probability(&counts, &spam_like(1000)).expect("trained");
        let p_ham = probability(&counts, &ham_like(1000)).expect("trained");
        assert!(p_spam > 0.95, "{p_spam}");
        assert!(p_ham < 0.05, "{p_ham}");
        let w = Weights::default();
        assert!((points(p_spam, &w) - 5.0).abs() < 0.5);
        assert!((points(p_ham, &w) + 3.0).abs() < 0.5);
        // Tokens it never saw say nothing.
        assert_eq!(probability(&counts, &[1, 2, 3]), Some(0.5));
    }

    #[test]
    fn trained_on_spam_only_it_raises_like_mail_and_not_the_rest() {
        let spam: Vec<Vec<i64>> = (0..20).map(spam_like).collect();
        let counts = trained(&spam, &[]);
        let p_spam = probability(&counts, &spam_like(1000)).expect("trained");
        let p_ham = probability(&counts, &ham_like(1000)).expect("trained");
        assert!(p_spam > 0.9, "{p_spam}");
        assert!(p_ham <= 0.55, "{p_ham}");
        // And the mirror image: ham only lowers like mail.
        let ham: Vec<Vec<i64>> = (0..20).map(ham_like).collect();
        let counts = trained(&[], &ham);
        assert!(probability(&counts, &ham_like(1000)).expect("trained") < 0.1);
        assert!(probability(&counts, &spam_like(1000)).expect("trained") >= 0.45);
    }

    #[test]
    fn chi_square_tail() {
        // chi2 with 2 dof: Q(x) = exp(-x/2).
        assert!((chi2_q(2.0, 2) - (-1.0f64).exp()).abs() < 1e-12);
        assert_eq!(chi2_q(0.0, 10), 1.0);
        assert!(chi2_q(1e6, 300) < 1e-12);
    }
}
