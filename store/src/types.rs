//! Plain data the store hands out and takes in: accounts, domains, aliases, mailboxes,
//! messages and flags. No I/O here, and nothing backend-specific.

use std::fmt;
use std::str::FromStr;

use crate::error::StoreError;

/// System flag `\Seen` (RFC 9051 §2.3.2), bit of [`MessageInfo::flags`].
pub const FLAG_SEEN: u8 = 1 << 0;
/// System flag `\Answered`.
pub const FLAG_ANSWERED: u8 = 1 << 1;
/// System flag `\Flagged`.
pub const FLAG_FLAGGED: u8 = 1 << 2;
/// System flag `\Deleted`: EXPUNGE removes such messages.
pub const FLAG_DELETED: u8 = 1 << 3;
/// System flag `\Draft`.
pub const FLAG_DRAFT: u8 = 1 << 4;
/// Every flag bit the store knows; other bits are refused.
pub const FLAG_ALL: u8 = FLAG_SEEN | FLAG_ANSWERED | FLAG_FLAGGED | FLAG_DELETED | FLAG_DRAFT;

/// Longest keyword accepted, so a client cannot grow a row without bound.
pub const MAX_KEYWORD_LEN: usize = 128;
/// Most keywords on one message.
pub const MAX_KEYWORDS: usize = 64;

/// The mailboxes every new account gets: name and RFC 6154 special-use attribute.
pub const DEFAULT_MAILBOXES: [(&str, Option<&str>); 6] = [
    ("INBOX", None),
    ("Sent", Some("\\Sent")),
    ("Drafts", Some("\\Drafts")),
    ("Junk", Some("\\Junk")),
    ("Trash", Some("\\Trash")),
    ("Archive", Some("\\Archive")),
];

/// The hierarchy delimiter of mailbox names (RFC 9051 §5.1.1).
pub const HIERARCHY_DELIMITER: char = '/';
/// Longest level of a mailbox name, in octets.
pub const MAX_MAILBOX_LEVEL_LEN: usize = 255;
/// Longest mailbox name, in octets.
pub const MAX_MAILBOX_NAME_LEN: usize = 1000;

/// A domain this server receives mail for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Row id.
    pub id: i64,
    /// Lowercase name, no trailing dot.
    pub name: String,
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and sends its own mail.
    User,
    /// Also manages domains, accounts and aliases in the admin panel.
    Admin,
}

impl Role {
    /// The text stored in the database and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Invalid(format!(
                "role must be user or admin, not `{other}`"
            ))),
        }
    }
}

/// A mail account. The password hash never leaves the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Row id; what [`Resolution::Local`] and the mailbox messages carry.
    pub id: i64,
    /// `local@domain` as it was created (domain lowercase).
    pub address: String,
    /// What it may do.
    pub role: Role,
    /// Most octets its messages may take; 0 = unlimited.
    pub quota_bytes: u64,
    /// Octets its messages take now (each copy counts).
    pub used_bytes: u64,
    /// May not log in (mail to it is still delivered).
    pub disabled: bool,
}

/// What an admin may change of an account at once; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// Most octets; 0 = unlimited.
    pub quota_bytes: Option<u64>,
    /// User or admin.
    pub role: Option<Role>,
    /// Refuse its logins.
    pub disabled: Option<bool>,
}

/// A spam decision, for the admin's policy view.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamDecisionRow {
    /// The account whose copy it was.
    pub account: String,
    /// The score.
    pub score: f64,
    /// `inbox` or `junk`.
    pub action: String,
    /// The rules that fired, as JSON.
    pub rules_json: String,
    /// Unix seconds.
    pub at: i64,
}

/// A greylist triplet as stored (the greylist actor's saved state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreylistEntry {
    /// The client network.
    pub net: String,
    /// The envelope sender.
    pub sender: String,
    /// The recipient.
    pub recipient: String,
    /// Unix seconds.
    pub first_seen: i64,
    /// Unix seconds.
    pub last_seen: i64,
    /// When it passed (was retried after the delay), unix seconds.
    pub passed_at: Option<i64>,
    /// Attempts seen.
    pub count: u64,
}

/// Messages of one kind in one hour, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCount {
    /// `received`, `rejected`, `greylisted`, `spam` or `sent`.
    pub what: String,
    /// Unix seconds / 3600.
    pub hour: i64,
    /// How many.
    pub count: u64,
}

/// What the store holds, in numbers, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreSizes {
    /// Outbound recipients waiting.
    pub queued: u64,
    /// Outbound recipients held by an admin.
    pub held: u64,
    /// The database file.
    pub database_bytes: u64,
    /// Distinct message bodies.
    pub message_bytes: u64,
}

/// An API token of the admin JSON API (never its secret, which is shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Row id, what revocation names.
    pub id: i64,
    /// What its maker called it.
    pub name: String,
    /// The admin account it acts as.
    pub account: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds of its last use.
    pub last_used: Option<i64>,
}

/// An alias: mail to `source` goes to every target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// `local@domain`, or `@domain` for a catch-all.
    pub source: String,
    /// Addresses, local or remote, sorted.
    pub targets: Vec<String>,
}

/// Who an address delivers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Local accounts (ids, deduplicated, ascending). Alias targets on other domains are not
    /// included: forwarding is not done by the store.
    Local(Vec<i64>),
    /// The domain is ours but nothing matches (SMTP `550 5.1.1`).
    UnknownUser,
    /// Not a domain we host (relay decision belongs to the caller).
    NotOurDomain,
    /// The text is not an address; says why.
    Invalid(String),
}

/// A mailbox as LIST/STATUS/SELECT report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Row id, used by later messages.
    pub id: i64,
    /// Name, e.g. `INBOX`, `Sent`.
    pub name: String,
    /// RFC 6154 attribute such as `\Sent`.
    pub special_use: Option<String>,
    /// RFC 9051 §2.3.1.1: unique per mailbox, never reused.
    pub uidvalidity: u32,
    /// The UID the next message will get.
    pub uidnext: u32,
    /// RFC 7162 HIGHESTMODSEQ.
    pub highestmodseq: u64,
    /// In LSUB / LIST (SUBSCRIBED).
    pub subscribed: bool,
    /// Number of messages.
    pub exists: u32,
    /// Number of messages without `\Seen`.
    pub unseen: u32,
    /// Number of messages with `\Deleted` (STATUS DELETED, RFC 9051 §6.3.11).
    pub deleted: u32,
    /// Sum of the messages' RFC822.SIZE in octets (STATUS SIZE, RFC 8438).
    pub size: u64,
    /// The highest UID an IMAP session has already claimed as `\Recent` (RFC 3501 §2.3.2);
    /// the messages above it are recent to the next read-write session that claims them
    /// ([`crate::requests::ClaimRecent`]).
    pub recent_uid: u32,
    /// Number of messages above [`MailboxInfo::recent_uid`] (STATUS RECENT).
    pub recent: u32,
}

/// What changed in a mailbox since a MODSEQ: the answer to [`crate::requests::Changes`], from
/// one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// The mailbox's counters now.
    pub mailbox: MailboxInfo,
    /// Every message whose MODSEQ is above the one asked about (flag changes and messages
    /// added since), by ascending UID.
    pub changed: Vec<MessageInfo>,
    /// UIDs expunged with a MODSEQ above the one asked about, ascending (RFC 7162 §3.2.5).
    /// May include UIDs that were added and expunged in the meantime.
    pub expunged: Vec<u32>,
}

/// One message of a mailbox, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// RFC 9051 §2.3.1.1 unique identifier.
    pub uid: u32,
    /// Bitmask of `FLAG_*`.
    pub flags: u8,
    /// Keywords (user flags), sorted, deduplicated case-insensitively.
    pub keywords: Vec<String>,
    /// RFC 7162 MODSEQ.
    pub modseq: u64,
    /// INTERNALDATE, unix seconds.
    pub internal_date: i64,
    /// RFC822.SIZE in octets.
    pub size: u64,
}

/// Where one recipient's copy of a delivered message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The recipient account.
    pub account_id: i64,
    /// Its INBOX.
    pub mailbox_id: i64,
    /// The new message's UID.
    pub uid: u32,
}

/// What APPEND reports (RFC 4315 APPENDUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// UIDVALIDITY of the target mailbox.
    pub uidvalidity: u32,
    /// UID of the new message.
    pub uid: u32,
}

/// How STORE changes flags (RFC 9051 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

/// What STORE did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagsResult {
    /// Messages whose flags or keywords actually changed, with their new state and MODSEQ.
    /// Messages already in the requested state are not listed.
    pub updated: Vec<MessageInfo>,
    /// RFC 7162 §3.1.3: UIDs not changed because their MODSEQ exceeds UNCHANGEDSINCE.
    pub failed_modified: Vec<u32>,
}

pub use mailroom_shared::login_guard::{Lockout, LockoutPolicy, LockoutScope};

/// What the store found for a guarded login (the `MailboxStore` turns it into the guard's
/// [`mailroom_shared::login_guard::Verdict`], with its events, metrics and delay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The password is right and the account enabled.
    Accepted(Account),
    /// Counted as a failure; `locked` are the lockouts this failure began.
    Refused { locked: Vec<Lockout> },
    /// Refused without checking the password.
    LockedOut(Lockout),
}

/// Group-commit counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed (each one fsync of the database).
    pub commits: u64,
    /// Write requests handled (successful or not).
    pub ops: u64,
}

/// Check and normalise keywords: atoms (RFC 9051 §9 `flag-keyword`), no `\`, deduplicated
/// case-insensitively (RFC 9051 §2.3.2: keywords are case-insensitive), sorted.
pub fn normalize_keywords(keywords: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::with_capacity(keywords.len());
    for k in keywords {
        // RFC 9051 §9: atom-specials are ( ) { SP CTL % * " \ ]
        let bad = |c: char| c.is_control() || c.is_whitespace() || "(){%*\"\\]".contains(c);
        if k.is_empty() || k.len() > MAX_KEYWORD_LEN || k.chars().any(bad) {
            return Err(StoreError::Invalid(format!("`{k}` is not a valid keyword")));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.clone());
        }
    }
    if out.len() > MAX_KEYWORDS {
        return Err(StoreError::Invalid(format!(
            "at most {MAX_KEYWORDS} keywords per message"
        )));
    }
    out.sort_by_key(|k| k.to_ascii_lowercase());
    Ok(out)
}

/// Check a mailbox name for CREATE and RENAME and return it as it is stored: one trailing
/// delimiter dropped (RFC 9051 §6.3.4), and a first level spelled `INBOX` in any case written
/// `INBOX` (RFC 9051 §5.1: INBOX is case-insensitive; its inferiors follow it, so `inbox/a`
/// and `INBOX/a` cannot both exist).
///
/// Refused (`Invalid`): an empty name or level (`a//b`, `/a`), a level over
/// [`MAX_MAILBOX_LEVEL_LEN`] or a name over [`MAX_MAILBOX_NAME_LEN`] octets, the LIST
/// wildcards `*` and `%`, and control characters (C0, DEL and C1).
pub fn mailbox_name(name: &str) -> Result<String, StoreError> {
    // RFC 9051 §6.3.4: a trailing hierarchy delimiter only says more levels will follow.
    let name = name.strip_suffix(HIERARCHY_DELIMITER).unwrap_or(name);
    if name.is_empty() {
        return Err(StoreError::Invalid("mailbox name is empty".into()));
    }
    if name.len() > MAX_MAILBOX_NAME_LEN {
        return Err(StoreError::Invalid(format!(
            "mailbox name is longer than {MAX_MAILBOX_NAME_LEN} octets"
        )));
    }
    // RFC 9051 §6.3.9: `*` and `%` are LIST wildcards; a name holding them could not be
    // listed on its own.
    if name.contains(['*', '%']) {
        return Err(StoreError::Invalid(
            "mailbox name must not contain * or %".into(),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "mailbox name must not contain control characters".into(),
        ));
    }
    for level in name.split(HIERARCHY_DELIMITER) {
        if level.is_empty() {
            return Err(StoreError::Invalid(
                "mailbox name has an empty level".into(),
            ));
        }
        if level.len() > MAX_MAILBOX_LEVEL_LEN {
            return Err(StoreError::Invalid(format!(
                "mailbox name has a level longer than {MAX_MAILBOX_LEVEL_LEN} octets"
            )));
        }
    }
    Ok(canonical_mailbox_name(name))
}

/// The stored spelling of a mailbox name: a first level `INBOX` in any case becomes `INBOX`
/// (RFC 9051 §5.1); everything else is exact (names are case-sensitive).
pub fn canonical_mailbox_name(name: &str) -> String {
    let (first, rest) = match name.split_once(HIERARCHY_DELIMITER) {
        Some((first, rest)) => (first, Some(rest)),
        None => (name, None),
    };
    if !first.eq_ignore_ascii_case("INBOX") {
        return name.to_string();
    }
    match rest {
        Some(rest) => format!("INBOX{HIERARCHY_DELIMITER}{rest}"),
        None => "INBOX".to_string(),
    }
}

/// The superiors of a (checked) mailbox name, outermost first: `a/b/c` → `a`, `a/b`.
pub fn superior_names(name: &str) -> Vec<&str> {
    name.match_indices(HIERARCHY_DELIMITER)
        .map(|(i, _)| &name[..i])
        .collect()
}

/// Refuse flag bits the store does not know.
pub fn check_flags(flags: u8) -> Result<u8, StoreError> {
    if flags & !FLAG_ALL != 0 {
        return Err(StoreError::Invalid(format!(
            "unknown flag bits {flags:#04x}"
        )));
    }
    Ok(flags)
}

/// A large body as the engine hands it out: read it in pieces, asynchronously.
pub type BodyStream = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// A raw message to read in pieces: the answer to [`crate::requests::OpenBody`].
pub enum BodySource {
    /// A small body, in memory.
    Inline(std::sync::Arc<[u8]>),
    /// A large body, at its start, and its length in octets. It reads the whole body even if
    /// the message is expunged meanwhile.
    Stream(BodyStream, u64),
}

impl fmt::Debug for BodySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodySource::Inline(data) => f.debug_tuple("Inline").field(&data.len()).finish(),
            BodySource::Stream(_, size) => f.debug_tuple("Stream").field(size).finish(),
        }
    }
}

impl BodySource {
    /// The body's length in octets.
    pub fn len(&self) -> u64 {
        match self {
            BodySource::Inline(data) => data.len() as u64,
            BodySource::Stream(_, size) => *size,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The store's key of a body: its lowercase hex SHA-256, as `MessageMoved::blobs` and
/// [`crate::spam::FetchBlob`] name it, whatever the engine.
pub fn blob_hash(raw: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, raw);
    let mut out = String::with_capacity(64);
    for &b in d.as_ref() {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips() {
        for r in [Role::User, Role::Admin] {
            assert_eq!(r.to_string().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn keywords_are_checked_deduplicated_and_sorted() {
        let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normalize_keywords(&k(&["$Junk", "b", "$junk", "A"])),
            Ok(k(&["$Junk", "A", "b"]))
        );
        for bad in ["", "a b", "\\Seen", "x]", "(y"] {
            assert!(normalize_keywords(&k(&[bad])).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn mailbox_names_are_normalised() {
        let cases = [
            ("a", "a"),
            ("a/", "a"),
            ("a/b/c/", "a/b/c"),
            ("inbox", "INBOX"),
            ("InBoX/", "INBOX"),
            ("inbox/Work", "INBOX/Work"),
            ("INBOXES", "INBOXES"),
            ("Inboxes/x", "Inboxes/x"),
            ("Entwürfe", "Entwürfe"),
            ("x/inbox", "x/inbox"),
            ("a b", "a b"),
        ];
        for (given, stored) in cases {
            assert_eq!(mailbox_name(given), Ok(stored.to_string()), "{given:?}");
        }
        let longest_level = "l".repeat(MAX_MAILBOX_LEVEL_LEN);
        assert!(mailbox_name(&longest_level).is_ok());
        let longest = [longest_level.as_str(); 4].join("/"); // 1023 octets
        assert!(mailbox_name(&longest[..MAX_MAILBOX_NAME_LEN]).is_ok());
    }

    #[test]
    fn bad_mailbox_names_are_refused() {
        let long_level = "l".repeat(MAX_MAILBOX_LEVEL_LEN + 1);
        let long_name = vec!["n".repeat(200); 6].join("/");
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("/", "empty"),
            ("//", "empty level"),
            ("a//b", "empty level"),
            ("/a", "empty level"),
            ("a//", "empty level"),
            ("a*", "* or %"),
            ("%", "* or %"),
            ("a/*/b", "* or %"),
            ("a\r\nb", "control"),
            ("a\nb", "control"),
            ("a\0", "control"),
            ("tab\there", "control"),
            ("del\u{7f}", "control"),
            ("c1\u{85}", "control"),
            (&long_level, "level longer"),
            (&long_name, "longer than 1000"),
        ];
        for (name, why) in cases {
            match mailbox_name(name) {
                Err(StoreError::Invalid(text)) => {
                    assert!(text.contains(why), "{name:?}: {text}");
                    assert_eq!(text, text.to_lowercase(), "lowercase text");
                }
                other => panic!("{name:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn superiors_are_listed_outermost_first() {
        assert_eq!(superior_names("a/b/c"), ["a", "a/b"]);
        assert!(superior_names("a").is_empty());
    }

    #[test]
    fn unknown_flag_bits_are_refused() {
        assert_eq!(
            check_flags(FLAG_SEEN | FLAG_DRAFT),
            Ok(FLAG_SEEN | FLAG_DRAFT)
        );
        assert!(check_flags(0x80).is_err());
    }
}
