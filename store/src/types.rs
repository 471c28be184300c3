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

/// Refuse flag bits the store does not know.
pub fn check_flags(flags: u8) -> Result<u8, StoreError> {
    if flags & !FLAG_ALL != 0 {
        return Err(StoreError::Invalid(format!(
            "unknown flag bits {flags:#04x}"
        )));
    }
    Ok(flags)
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
    fn unknown_flag_bits_are_refused() {
        assert_eq!(
            check_flags(FLAG_SEEN | FLAG_DRAFT),
            Ok(FLAG_SEEN | FLAG_DRAFT)
        );
        assert!(check_flags(0x80).is_err());
    }
}
