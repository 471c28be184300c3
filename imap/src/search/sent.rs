//! The sent date that SEARCH SENTBEFORE / SENTON / SENTSINCE compare (RFC 3501 §6.4.4,
//! RFC 9051 §6.4.4): the calendar date written in the Date: header, "disregarding time and
//! timezone" — so a message dated `Tue, 1 Feb 1994 23:30 -0500` was sent on the 1st, although
//! that instant is the 2nd in UTC.
//!
//! What it owns: reading the date part of an RFC 5322 §3.3 `date-time`, obsolete forms
//! included (§4.3: two- and three-digit years, comments, a missing comma), from the Date:
//! text the store kept in the ENVELOPE at delivery, and the fallback for a message without a
//! usable Date:. What it must not do: read message bodies, or panic on any header text.
//!
//! Without a usable Date: the sent date is the INTERNALDATE's, as RFC 5256 §2.2 defines the
//! sent date for SORT ("If the sent date cannot be determined … the INTERNALDATE for that
//! message is used as the sent date"): SEARCH and SORT then agree on one sent date, and such
//! a message is found by some date rather than by none (Dovecot does the same).

use mailroom_shared::civil::{SECS_PER_DAY, days_from_civil};
use mailroom_store::mime::strip_comments;

/// RFC 5322 §3.3 month names (matched case-insensitively, §4.3 obs-month is the same).
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// RFC 5322 §3.3 day names.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Days since 1970-01-01 of the message's sent date: the Date: header's own calendar date,
/// else the UTC date of `internal_date` (unix seconds).
pub(crate) fn sent_day(date_header: Option<&str>, internal_date: i64) -> i64 {
    date_header
        .and_then(header_day)
        .unwrap_or_else(|| internal_date.div_euclid(SECS_PER_DAY))
}

/// Days since 1970-01-01 of the date written in an RFC 5322 `date-time`, or None when the
/// text does not start (after an optional day name) with `day month year`.
///
/// ```abnf
/// date-time   = [ day-of-week "," ] date time [CFWS]      ; RFC 5322 §3.3
/// date        = day month year
/// day         = ([FWS] 1*2DIGIT FWS) / obs-day
/// year        = (FWS 4*DIGIT FWS) / obs-year               ; obs-year = [CFWS] 2*DIGIT [CFWS]
/// ```
///
/// The time and zone that follow are not read: the date is the one in the message's own
/// zone, which is what SENT* compares.
pub(crate) fn header_day(text: &str) -> Option<i64> {
    let text = strip_comments(text);
    let mut words = text.split([' ', '\t', ',']).filter(|w| !w.is_empty());
    let mut first = words.next()?;
    // RFC 5322 §3.3 day-of-week, with or without its comma (obs-day-of-week allows CFWS).
    if DAYS.iter().any(|d| first.eq_ignore_ascii_case(d)) {
        first = words.next()?;
    }
    let day: u32 = digits(first, 1, 2)?;
    let month_word = words.next()?;
    let month = MONTHS
        .iter()
        .position(|m| month_word.eq_ignore_ascii_case(m))?;
    let year_word = words.next()?;
    let year: i64 = digits(year_word, 2, 9)?;
    // RFC 5322 §4.3: a two-digit year below 50 is 20xx, else 19xx; three digits add 1900.
    let year = match year_word.len() {
        2 if year < 50 => year + 2000,
        2 => year + 1900,
        3 => year + 1900,
        _ => year,
    };
    days_from_civil(year, month as u32 + 1, day)
}

/// `word` as a number of `min..=max` ASCII digits.
fn digits<T: std::str::FromStr>(word: &str, min: usize, max: usize) -> Option<T> {
    let ok = (min..=max).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_digit());
    if ok { word.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Days since 1970-01-01 the slow way, for checking.
    fn day_of(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d).unwrap()
    }

    #[test]
    fn dates_in_their_own_zone() {
        let feb1 = day_of(1994, 2, 1);
        let cases: &[(&str, Option<i64>)] = &[
            ("Tue, 01 Feb 1994 21:52:25 +0000", Some(feb1)),
            // RFC 3501 §6.4.4: the zone is disregarded; 23:30 -0500 is the 2nd in UTC.
            ("Tue, 1 Feb 1994 23:30:00 -0500", Some(feb1)),
            ("Tue, 1 Feb 1994 00:30:00 +1400", Some(feb1)),
            // No day name, lower case month, folding whitespace, a trailing comment.
            ("1 feb 1994 10:00 +0100", Some(feb1)),
            ("  Tue,\t 1   FEB\t1994 10:00:00 +0100 (CET)", Some(feb1)),
            // RFC 5322 §4.3 obsolete forms: two- and three-digit years, comments inside,
            // a day name without its comma, zone names.
            ("Tue, 1 Feb 94 10:00 EST", Some(feb1)),
            ("Tue, 1 Feb 094 10:00 GMT", Some(feb1)),
            ("Sat, 1 Jan 49 10:00 GMT", Some(day_of(2049, 1, 1))),
            ("Sat, 1 Jan 50 10:00 GMT", Some(day_of(1950, 1, 1))),
            (
                "Tue (day), 1 (of) Feb (nested (x\\)y)) 1994 10:00 +0000",
                Some(feb1),
            ),
            ("Tue 1 Feb 1994 10:00 +0000", Some(feb1)),
            ("Tue,1 Feb 1994 10:00 +0000", Some(feb1)),
            // Not dates.
            ("", None),
            ("not a date", None),
            ("Tue, 30 Feb 1994 10:00 +0000", None),
            ("Tue, 001 Feb 1994 10:00 +0000", None),
            ("Tue, 1 Febr 1994 10:00 +0000", None),
            ("Tue, 1 Feb 1 10:00 +0000", None),
            ("Tue, 1 Feb", None),
            ("1994-02-01T10:00:00Z", None),
            ("(only a comment", None),
        ];
        for (text, want) in cases {
            assert_eq!(header_day(text), *want, "{text:?}");
        }
    }

    #[test]
    fn no_usable_date_falls_back_to_internaldate() {
        // RFC 5256 §2.2: the INTERNALDATE stands in for a missing or unparsable Date:.
        let internal = 760_147_199; // 1994-02-01 23:59:59 UTC
        let feb1 = day_of(1994, 2, 1);
        assert_eq!(sent_day(None, internal), feb1);
        assert_eq!(sent_day(Some("garbage"), internal), feb1);
        assert_eq!(
            sent_day(Some("Thu, 3 Mar 2005 01:00 +0900"), internal),
            day_of(2005, 3, 3)
        );
        assert_eq!(sent_day(None, i64::MIN), i64::MIN.div_euclid(SECS_PER_DAY));
    }

    #[test]
    fn hostile_text_never_panics() {
        crate::search::hostile_inputs(
            &[b"Tue, 1 Feb 1994 23:30:00 -0500 (x(y\\)z))"],
            0x9e37_79b9_7f4a_7c15,
            |bytes| {
                let _ = header_day(&String::from_utf8_lossy(bytes));
            },
        );
        assert_eq!(header_day("1 Feb 999999999"), None);
    }
}
