//! LIST and LSUB: which names match a reference and pattern, and with which attributes
//! (RFC 9051 §6.3.9, RFC 3501 §6.3.8–§6.3.9, RFC 5258, RFC 6154).
//!
//! What it owns: wildcard matching, non-existent parents, the selection options and the
//! attributes. What it must not do: answer the empty-pattern delimiter query (the caller
//! does), quote or encode names, or take time worse than quadratic in a name's length for
//! any pattern (matching is a dynamic programme, not backtracking).

use std::collections::{BTreeMap, BTreeSet};

use super::{DELIMITER, ListEntry, ListOptions, Listed};

const INBOX: &str = "INBOX";

/// RFC 6154 §2 special-use attributes (and RFC 8457's `\Important`), as we print them.
const SPECIAL_USES: [&str; 8] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Important",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

/// RFC 9051 §6.3.9: the reference and the pattern make one canonical pattern. We
/// concatenate them (a reference names a level such as `Archive/`), except that a pattern
/// starting with the delimiter is absolute and ignores the reference (RFC 3501 §6.3.8's
/// examples).
fn canonical(reference: &str, pattern: &str) -> String {
    if pattern.starts_with(DELIMITER) {
        pattern.to_owned()
    } else {
        format!("{reference}{pattern}")
    }
}

/// The name as we compare it: any case of INBOX as the first level is INBOX
/// (RFC 9051 §5.1: "INBOX" is case-insensitive).
fn normalize(name: &str) -> String {
    let first = name.split(DELIMITER).next().unwrap_or_default();
    if first.eq_ignore_ascii_case(INBOX) {
        format!("{INBOX}{}", &name[first.len()..])
    } else {
        name.to_owned()
    }
}

/// Does `name` match `pattern`? RFC 9051 §6.3.9: `*` matches zero or more characters, `%`
/// the same but not the hierarchy delimiter; anything else matches itself, except that the
/// first level `INBOX` is matched case-insensitively.
pub fn matches_pattern(pattern: &str, name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    // Runs of wildcards collapse: `**` and `*%` are `*`, `%%` is `%`. This also bounds the
    // work: a pattern with more literal characters than the name cannot match.
    let mut pat: Vec<char> = Vec::with_capacity(pattern.len());
    for ch in pattern.chars() {
        match (pat.last().copied(), ch) {
            (Some('*'), '*' | '%') => {}
            (Some('%'), '%') => {}
            (Some('%'), '*') => {
                pat.pop();
                pat.push('*');
            }
            _ => pat.push(ch),
        }
    }
    if pat.iter().filter(|c| !matches!(c, '*' | '%')).count() > name.len() {
        return false;
    }
    let fold = inbox_prefix_len(&name);
    let same = |p: char, j: usize| {
        let n = name[j];
        p == n || (j < fold && p.eq_ignore_ascii_case(&n))
    };
    // row[j]: the pattern so far matches name[..j].
    let mut row = vec![false; name.len() + 1];
    row[0] = true;
    for &p in &pat {
        let mut next = vec![false; name.len() + 1];
        match p {
            '*' => {
                next[0] = row[0];
                for j in 1..=name.len() {
                    next[j] = row[j] || next[j - 1];
                }
            }
            '%' => {
                next[0] = row[0];
                for j in 1..=name.len() {
                    next[j] = row[j] || (next[j - 1] && name[j - 1] != DELIMITER);
                }
            }
            _ => {
                for j in 1..=name.len() {
                    next[j] = row[j - 1] && same(p, j - 1);
                }
            }
        }
        row = next;
    }
    row[name.len()]
}

/// How many leading characters of `name` are INBOX, to be compared case-insensitively.
fn inbox_prefix_len(name: &[char]) -> usize {
    let first: String = name.iter().take_while(|&&c| c != DELIMITER).collect();
    if first.eq_ignore_ascii_case(INBOX) {
        INBOX.len()
    } else {
        0
    }
}

fn special_use(value: Option<&str>) -> Option<&'static str> {
    let value = value?;
    SPECIAL_USES
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(value))
}

/// Every proper ancestor of `name` (`a/b/c` gives `a` and `a/b`).
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(DELIMITER).map(move |(i, _)| &name[..i])
}

/// INBOX first, then by name.
fn order(a: &str, b: &str) -> std::cmp::Ordering {
    (a != INBOX).cmp(&(b != INBOX)).then_with(|| a.cmp(b))
}

/// The account's names, normalized, with what LIST needs to know about each.
struct Tree<'a> {
    existing: BTreeMap<String, Listed<'a>>,
    /// Subscribed names with no mailbox (RFC 9051 §6.3.7: a subscription outlives its
    /// mailbox).
    lost: BTreeSet<String>,
    /// Names with at least one existing descendant.
    parents: BTreeSet<String>,
    /// Names with at least one subscribed descendant, existing or not.
    subscribed_parents: BTreeSet<String>,
}

impl<'a> Tree<'a> {
    fn new(mailboxes: &[Listed<'a>], lost: &[String]) -> Self {
        let mut tree = Tree {
            existing: BTreeMap::new(),
            lost: BTreeSet::new(),
            parents: BTreeSet::new(),
            subscribed_parents: BTreeSet::new(),
        };
        for mailbox in mailboxes {
            let name = normalize(mailbox.name);
            for parent in ancestors(&name) {
                tree.parents.insert(parent.to_owned());
                if mailbox.subscribed {
                    tree.subscribed_parents.insert(parent.to_owned());
                }
            }
            tree.existing.insert(name, *mailbox);
        }
        for name in lost {
            let name = normalize(name);
            for parent in ancestors(&name) {
                tree.subscribed_parents.insert(parent.to_owned());
            }
            if !tree.existing.contains_key(&name) {
                tree.lost.insert(name);
            }
        }
        tree
    }

    /// Existing names and the non-existent ones that have existing descendants; with
    /// `subscriptions`, also subscribed names without a mailbox and their ancestors.
    fn names(&self, subscriptions: bool) -> BTreeSet<&str> {
        let mut all: BTreeSet<&str> = self.existing.keys().map(String::as_str).collect();
        all.extend(self.parents.iter().map(String::as_str));
        if subscriptions {
            all.extend(self.lost.iter().map(String::as_str));
            all.extend(self.subscribed_parents.iter().map(String::as_str));
        }
        all
    }

    fn children(&self, name: &str) -> &'static str {
        if self.parents.contains(name) {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }
    }
}

/// RFC 9051 §6.3.9: names matching `reference` + `pattern` (`*` matches anything including
/// `/`, `%` anything but `/`), INBOX first and then sorted. An empty pattern is the
/// delimiter query, answered by the caller: it gives nothing here.
///
/// * `\HasChildren` / `\HasNoChildren` always (RFC 9051 §7.3.1 requires them for rev2; fine
///   for rev1 too).
/// * A name that does not exist but has children is listed when the pattern ends with `%`
///   and it matches (RFC 3501 §6.3.8), with `\NonExistent` in rev2 (RFC 9051 §7.3.1) and in
///   an extended LIST with SUBSCRIBED (RFC 5258 §3), else `\Noselect` (rev1).
/// * Special-use attributes always in rev2 (RFC 9051 §7.3.1), and with the SPECIAL-USE
///   selection or return option (RFC 6154 §2).
/// * `\Subscribed` with the SUBSCRIBED selection or return option (RFC 5258 §3.1, §3.2).
/// * Selection options narrow the list and combine with AND (RFC 5258 §3.1): SUBSCRIBED lists
///   subscribed names only, SPECIAL-USE mailboxes with a special use only.
/// * SUBSCRIBED also lists the subscribed names in `lost`, which have no mailbox, as
///   `\NonExistent \Subscribed` (RFC 5258 §3.1, §5 example 2's "Fruit/Peach").
/// * RECURSIVEMATCH (with SUBSCRIBED) also lists matching names that are not subscribed but
///   have a subscribed descendant (existing or not), and gives every listed name with a
///   subscribed descendant `CHILDINFO ("SUBSCRIBED")` (RFC 5258 §3.1, §4): a descendant
///   that exists but is not subscribed gives none.
pub fn list(
    mailboxes: &[Listed<'_>],
    lost: &[String],
    reference: &str,
    pattern: &str,
    opts: &ListOptions,
    rev2: bool,
) -> Vec<ListEntry> {
    if pattern.is_empty() {
        return Vec::new();
    }
    let pattern = canonical(reference, pattern);
    let ends_with_percent = pattern.ends_with('%');
    let tree = Tree::new(mailboxes, lost);
    let show_subscribed = opts.select_subscribed || opts.return_subscribed;
    let show_special = rev2 || opts.return_special_use || opts.select_special_use;
    let child_info_wanted = opts.recursive_match && opts.select_subscribed;
    // RFC 5258 §3: `\NonExistent` (which implies `\Noselect`) in every extended LIST; a plain
    // IMAP4rev1 LIST keeps RFC 3501's `\Noselect`.
    let nonexistent = if rev2 || opts.select_subscribed {
        "\\NonExistent"
    } else {
        "\\Noselect"
    };

    let mut out = Vec::new();
    for name in tree.names(opts.select_subscribed) {
        if !matches_pattern(&pattern, name) {
            continue;
        }
        let child_info = child_info_wanted && tree.subscribed_parents.contains(name);
        let mut attributes = Vec::new();
        match tree.existing.get(name) {
            Some(mailbox) => {
                let special = special_use(mailbox.special_use);
                let selected = (!opts.select_subscribed || mailbox.subscribed)
                    && (!opts.select_special_use || special.is_some());
                // RFC 5258 §3.1 RECURSIVEMATCH: a parent that fails the selection is still
                // listed when a descendant passes it.
                if !selected && !child_info {
                    continue;
                }
                attributes.push(tree.children(name));
                if let (true, Some(special)) = (show_special, special) {
                    attributes.push(special);
                }
                if show_subscribed && mailbox.subscribed {
                    attributes.push("\\Subscribed");
                }
            }
            None => {
                let subscribed = tree.lost.contains(name);
                let listed = if opts.select_subscribed {
                    // RFC 5258 §3.1: a subscribed name is listed whether or not it exists.
                    (subscribed && !opts.select_special_use) || child_info
                } else {
                    // RFC 3501 §6.3.8: with '%' last, matching levels of hierarchy are
                    // returned even when they are not mailboxes. Such a level has no
                    // special use, so the SPECIAL-USE selection never lists it.
                    ends_with_percent && !opts.select_special_use && tree.parents.contains(name)
                };
                if !listed {
                    continue;
                }
                attributes.push(nonexistent);
                attributes.push(tree.children(name));
                if show_subscribed && subscribed {
                    attributes.push("\\Subscribed");
                }
            }
        }
        out.push(ListEntry {
            name: name.to_owned(),
            attributes,
            child_info_subscribed: child_info,
        });
    }
    out.sort_by(|a, b| order(&a.name, &b.name));
    out
}

/// [`list`] for several patterns (RFC 5258 §3: `LIST "" ("INBOX" "Sent/%")`): the union,
/// each name once, INBOX first and then sorted.
pub fn list_patterns(
    mailboxes: &[Listed<'_>],
    lost: &[String],
    reference: &str,
    patterns: &[String],
    opts: &ListOptions,
    rev2: bool,
) -> Vec<ListEntry> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<ListEntry> = patterns
        .iter()
        .flat_map(|p| list(mailboxes, lost, reference, p, opts, rev2))
        .filter(|e| seen.insert(e.name.clone()))
        .collect();
    out.sort_by(|a, b| order(&a.name, &b.name));
    out
}

/// LSUB (RFC 3501 §6.3.9): subscribed names matching `reference` + `pattern`, INBOX first,
/// including the names in `lost` whose mailbox is gone (§6.3.9: the server must not drop a
/// name from the subscription list because its mailbox no longer exists). When the pattern
/// ends with `%`, a matching name that is not subscribed itself but has a subscribed
/// descendant is listed with `\Noselect`, as §6.3.9 requires.
pub fn lsub(
    mailboxes: &[Listed<'_>],
    lost: &[String],
    reference: &str,
    pattern: &str,
) -> Vec<ListEntry> {
    if pattern.is_empty() {
        return Vec::new();
    }
    let pattern = canonical(reference, pattern);
    let ends_with_percent = pattern.ends_with('%');
    let tree = Tree::new(mailboxes, lost);
    let mut names: BTreeSet<&str> = tree
        .existing
        .iter()
        .filter(|(_, m)| m.subscribed)
        .map(|(n, _)| n.as_str())
        .collect();
    names.extend(tree.lost.iter().map(String::as_str));
    if ends_with_percent {
        names.extend(tree.subscribed_parents.iter().map(String::as_str));
    }
    let mut out: Vec<ListEntry> = names
        .into_iter()
        .filter(|name| matches_pattern(&pattern, name))
        .map(|name| {
            let subscribed =
                tree.existing.get(name).is_some_and(|m| m.subscribed) || tree.lost.contains(name);
            ListEntry {
                name: name.to_owned(),
                attributes: if subscribed {
                    vec![]
                } else {
                    vec!["\\Noselect"]
                },
                child_info_subscribed: false,
            }
        })
        .collect();
    out.sort_by(|a, b| order(&a.name, &b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "a/b/c", true),
            ("%", "a", true),
            ("%", "a/b", false),
            ("%/%", "a/b", true),
            ("%/%", "a/b/c", false),
            ("a/*", "a/b/c", true),
            ("a/*", "a", false),
            ("a*", "a", true),
            ("a%", "abc", true),
            ("a%", "ab/c", false),
            ("*c", "a/b/c", true),
            ("%c", "a/b/c", false),
            ("a%c", "abbc", true),
            ("a%c", "ab/c", false),
            ("a*c", "ab/c", true),
            ("Sent", "Sent", true),
            ("sent", "Sent", false),
            ("Sent", "Sent/2024", false),
            ("Sent*", "Sent/2024", true),
            ("Sent%", "Sent/2024", false),
            ("Sent/%", "Sent/2024", true),
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("%*%", "a/b", true),
            ("*%", "a/b", true),
            ("%%", "a/b", false),
            ("**/x", "a/b/x", true),
            ("台北/%", "台北/日本語", true),
            ("台%", "台北", true),
            ("?", "a", false),
            // RFC 9051 §5.1: INBOX is case-insensitive, as the first level only.
            ("inbox", "INBOX", true),
            ("InBoX/%", "INBOX/a", true),
            ("inb*", "INBOX", true),
            ("INBOX/A", "INBOX/a", false),
            ("x/inbox", "x/INBOX", false),
            ("inboxes", "INBOXES", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                matches_pattern(pattern, name),
                *want,
                "{pattern:?} {name:?}"
            );
        }
    }

    #[test]
    fn hostile_patterns_are_fast() {
        let name = "a".repeat(300);
        let pattern = "*a".repeat(150) + "b";
        assert!(!matches_pattern(&pattern, &name));
        let pattern = "%*".repeat(10_000);
        assert!(matches_pattern(&pattern, &name));
        let pattern = "a".repeat(10_000);
        assert!(!matches_pattern(&pattern, &name));
    }

    fn mb<'a>(name: &'a str, special: Option<&'a str>, subscribed: bool) -> Listed<'a> {
        Listed {
            name,
            special_use: special,
            subscribed,
        }
    }

    /// The names of RFC 5258 §5's examples, adapted: no remote mailboxes. "Fruit/Peach" was
    /// subscribed and then deleted: see [`lost`].
    fn fruit() -> Vec<Listed<'static>> {
        vec![
            mb("INBOX", None, true),
            mb("Fruit", None, false),
            mb("Fruit/Apple", None, false),
            mb("Fruit/Banana", None, true),
            mb("Tofu", None, false),
            mb("Vegetable", None, true),
            mb("Vegetable/Broccoli", None, true),
            mb("Vegetable/Corn", None, false),
            mb("Meat/Steak", None, true),
            mb("Sent", Some("\\Sent"), true),
        ]
    }

    /// RFC 5258 §5: the subscribed "Fruit/Peach" no longer exists.
    fn lost() -> Vec<String> {
        vec!["Fruit/Peach".to_owned()]
    }

    fn lines(entries: &[ListEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let mut s = format!("({}) {}", e.attributes.join(" "), e.name);
                if e.child_info_subscribed {
                    s.push_str(" CHILDINFO");
                }
                s
            })
            .collect()
    }

    fn run(reference: &str, pattern: &str, opts: &ListOptions, rev2: bool) -> Vec<String> {
        lines(&list(&fruit(), &lost(), reference, pattern, opts, rev2))
    }

    fn sel(sub: bool, special: bool, recursive: bool) -> ListOptions {
        ListOptions {
            select_subscribed: sub,
            select_special_use: special,
            recursive_match: recursive,
            ..ListOptions::default()
        }
    }

    #[test]
    fn percent_lists_levels_with_nonexistent_parents() {
        let plain = ListOptions::default();
        assert_eq!(
            run("", "%", &plain, true),
            [
                "(\\HasNoChildren) INBOX",
                "(\\HasChildren) Fruit",
                "(\\NonExistent \\HasChildren) Meat",
                "(\\HasNoChildren \\Sent) Sent",
                "(\\HasNoChildren) Tofu",
                "(\\HasChildren) Vegetable",
            ]
        );
        // IMAP4rev1: \Noselect, and special use only when asked for.
        assert_eq!(
            run("", "%", &plain, false),
            [
                "(\\HasNoChildren) INBOX",
                "(\\HasChildren) Fruit",
                "(\\Noselect \\HasChildren) Meat",
                "(\\HasNoChildren) Sent",
                "(\\HasNoChildren) Tofu",
                "(\\HasChildren) Vegetable",
            ]
        );
        let special = ListOptions {
            return_special_use: true,
            ..ListOptions::default()
        };
        assert!(run("", "Sent", &special, false) == ["(\\HasNoChildren \\Sent) Sent"]);
    }

    #[test]
    fn star_does_not_list_nonexistent_parents() {
        let got = run("", "*", &ListOptions::default(), true);
        assert_eq!(got.len(), 10);
        assert!(!got.iter().any(|l| l.ends_with(" Meat")));
        assert!(got.contains(&"(\\HasNoChildren) Meat/Steak".to_owned()));
        assert_eq!(got[0], "(\\HasNoChildren) INBOX");
    }

    #[test]
    fn reference_is_prefixed() {
        let plain = ListOptions::default();
        assert_eq!(
            run("Fruit/", "%", &plain, true),
            [
                "(\\HasNoChildren) Fruit/Apple",
                "(\\HasNoChildren) Fruit/Banana"
            ]
        );
        assert_eq!(run("Fruit", "/%", &plain, true), Vec::<String>::new());
        assert_eq!(
            run("Fruit/", "Apple", &plain, true),
            ["(\\HasNoChildren) Fruit/Apple"]
        );
        assert_eq!(run("", "inbox", &plain, true), ["(\\HasNoChildren) INBOX"]);
        assert_eq!(run("", "", &plain, true), Vec::<String>::new());
        assert_eq!(run("", "Nothing", &plain, true), Vec::<String>::new());
        assert_eq!(run("", "Meat", &plain, true), Vec::<String>::new());
    }

    #[test]
    fn subscribed_selection() {
        // RFC 5258 §5 example 2 (LIST (SUBSCRIBED) "" "*"), adapted.
        assert_eq!(
            run("", "*", &sel(true, false, false), true),
            [
                "(\\HasNoChildren \\Subscribed) INBOX",
                "(\\HasNoChildren \\Subscribed) Fruit/Banana",
                // RFC 5258 §3.1: a subscribed name that no longer exists is \NonExistent.
                "(\\NonExistent \\HasNoChildren \\Subscribed) Fruit/Peach",
                "(\\HasNoChildren \\Subscribed) Meat/Steak",
                "(\\HasNoChildren \\Sent \\Subscribed) Sent",
                "(\\HasChildren \\Subscribed) Vegetable",
                "(\\HasNoChildren \\Subscribed) Vegetable/Broccoli",
            ]
        );
        // The SUBSCRIBED return option alone does not list it (RFC 5258 §5 example 6).
        let returning = ListOptions {
            return_subscribed: true,
            ..ListOptions::default()
        };
        assert_eq!(
            run("", "Fruit/*", &returning, true),
            [
                "(\\HasNoChildren) Fruit/Apple",
                "(\\HasNoChildren \\Subscribed) Fruit/Banana",
            ]
        );
        // Without RECURSIVEMATCH, '%' does not bring in unsubscribed parents.
        assert_eq!(
            run("", "%", &sel(true, false, false), true),
            [
                "(\\HasNoChildren \\Subscribed) INBOX",
                "(\\HasNoChildren \\Sent \\Subscribed) Sent",
                "(\\HasChildren \\Subscribed) Vegetable",
            ]
        );
    }

    #[test]
    fn recursivematch_gives_childinfo() {
        // RFC 5258 §5 examples 8 and 9: LIST (SUBSCRIBED RECURSIVEMATCH) "" "%".
        assert_eq!(
            run("", "%", &sel(true, false, true), true),
            [
                "(\\HasNoChildren \\Subscribed) INBOX",
                "(\\HasChildren) Fruit CHILDINFO",
                "(\\NonExistent \\HasChildren) Meat CHILDINFO",
                "(\\HasNoChildren \\Sent \\Subscribed) Sent",
                "(\\HasChildren \\Subscribed) Vegetable CHILDINFO",
            ]
        );
        // RFC 5258 §3: \NonExistent in an extended LIST, IMAP4rev1 too.
        let rev1 = run("", "%", &sel(true, false, true), false);
        assert_eq!(rev1[2], "(\\NonExistent \\HasChildren) Meat CHILDINFO");
        // RFC 5258 §4: CHILDINFO only for subscribed descendants. Only the deleted, still
        // subscribed "Fruit/Peach" gives "Fruit" its CHILDINFO here; "Tofu/Soft" exists but
        // is not subscribed, so "Tofu" is not listed at all.
        let mut boxes = fruit();
        boxes.retain(|m| m.name != "Fruit/Banana");
        boxes.push(mb("Tofu/Soft", None, false));
        let only_lost = lines(&list(
            &boxes,
            &lost(),
            "",
            "%",
            &sel(true, false, true),
            true,
        ));
        assert_eq!(
            only_lost,
            [
                "(\\HasNoChildren \\Subscribed) INBOX",
                "(\\HasChildren) Fruit CHILDINFO",
                "(\\NonExistent \\HasChildren) Meat CHILDINFO",
                "(\\HasNoChildren \\Sent \\Subscribed) Sent",
                "(\\HasChildren \\Subscribed) Vegetable CHILDINFO",
            ]
        );
        let without = lines(&list(&boxes, &[], "", "%", &sel(true, false, true), true));
        assert!(!without.iter().any(|l| l.contains("Fruit")), "{without:?}");
        // A lost name under a parent that does not exist either: both come back.
        let gone = ["Qux/Bar".to_owned()];
        assert_eq!(
            lines(&list(&[], &gone, "", "*", &sel(true, false, true), true)),
            [
                "(\\NonExistent \\HasNoChildren) Qux CHILDINFO",
                "(\\NonExistent \\HasNoChildren \\Subscribed) Qux/Bar",
            ]
        );
        // Tofu has no subscribed descendant and is not subscribed: never listed.
        assert!(
            !run("", "*", &sel(true, false, true), true)
                .iter()
                .any(|l| l.contains("Tofu"))
        );
    }

    #[test]
    fn return_subscribed_and_children() {
        let opts = ListOptions {
            return_subscribed: true,
            return_children: true,
            ..ListOptions::default()
        };
        assert_eq!(
            run("", "Vegetable/%", &opts, true),
            [
                "(\\HasNoChildren \\Subscribed) Vegetable/Broccoli",
                "(\\HasNoChildren) Vegetable/Corn",
            ]
        );
    }

    #[test]
    fn special_use_selection() {
        // RFC 6154 §5.1's example, adapted: LIST (SPECIAL-USE) "" "*".
        let boxes = [
            mb("INBOX", None, true),
            mb("ToDo", Some("\\Flagged"), false),
            mb("Projects/Sent", Some("\\Sent"), false),
            mb("Unknown", Some("\\Bogus"), false),
            mb("Trash", Some("\\trash"), true),
        ];
        let got = lines(&list(&boxes, &[], "", "*", &sel(false, true, false), false));
        assert_eq!(
            got,
            [
                "(\\HasNoChildren \\Sent) Projects/Sent",
                "(\\HasNoChildren \\Flagged) ToDo",
                "(\\HasNoChildren \\Trash) Trash",
            ]
        );
        // '%' does not bring in the non-existent "Projects" under SPECIAL-USE.
        let got = lines(&list(&boxes, &[], "", "%", &sel(false, true, false), true));
        assert_eq!(
            got,
            [
                "(\\HasNoChildren \\Flagged) ToDo",
                "(\\HasNoChildren \\Trash) Trash"
            ]
        );
        // Both selections: AND.
        let got = lines(&list(&boxes, &[], "", "*", &sel(true, true, false), true));
        assert_eq!(got, ["(\\HasNoChildren \\Trash \\Subscribed) Trash"]);
    }

    #[test]
    fn inbox_any_case_sorts_first() {
        let boxes = [
            mb("Archive", None, false),
            mb("inbox", None, false),
            mb("inbox/x", None, false),
        ];
        let got = lines(&list(&boxes, &[], "", "*", &ListOptions::default(), true));
        assert_eq!(
            got,
            [
                "(\\HasChildren) INBOX",
                "(\\HasNoChildren) Archive",
                "(\\HasNoChildren) INBOX/x"
            ]
        );
    }

    #[test]
    fn several_patterns_are_a_union() {
        let patterns = [
            "Vegetable/%".to_owned(),
            "INBOX".to_owned(),
            "*/Broccoli".to_owned(),
        ];
        let got = lines(&list_patterns(
            &fruit(),
            &lost(),
            "",
            &patterns,
            &ListOptions::default(),
            true,
        ));
        assert_eq!(
            got,
            [
                "(\\HasNoChildren) INBOX",
                "(\\HasNoChildren) Vegetable/Broccoli",
                "(\\HasNoChildren) Vegetable/Corn",
            ]
        );
        assert!(
            list_patterns(&fruit(), &lost(), "", &[], &ListOptions::default(), true).is_empty()
        );
    }

    #[test]
    fn lsub_table() {
        let boxes = fruit();
        let run = |r: &str, p: &str| lines(&lsub(&boxes, &lost(), r, p));
        assert_eq!(
            run("", "*"),
            [
                "() INBOX",
                "() Fruit/Banana",
                // RFC 3501 §6.3.9: a subscribed name stays after its mailbox is deleted.
                "() Fruit/Peach",
                "() Meat/Steak",
                "() Sent",
                "() Vegetable",
                "() Vegetable/Broccoli",
            ]
        );
        // RFC 3501 §6.3.9: "foo/bar" subscribed, "foo" not: LSUB "" % gives foo \Noselect.
        assert_eq!(
            run("", "%"),
            [
                "() INBOX",
                "(\\Noselect) Fruit",
                "(\\Noselect) Meat",
                "() Sent",
                "() Vegetable"
            ]
        );
        assert_eq!(run("Fruit/", "%"), ["() Fruit/Banana", "() Fruit/Peach"]);
        assert_eq!(run("", "Fruit"), Vec::<String>::new());
        assert_eq!(run("", ""), Vec::<String>::new());
    }
}
