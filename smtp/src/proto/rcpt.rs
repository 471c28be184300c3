//! RCPT's `<Postmaster>` (RFC 5321 §4.1.1.3): smtp-proto reads it as the empty path, the same
//! as `<>`, which is no recipient; this tells the two apart.

use mailroom_shared::address::POSTMASTER;

/// Whether the forward-path of the RCPT `line` (without CRLF) is `<Postmaster>`, in any case
/// and with no domain.
pub fn is_postmaster(line: &[u8]) -> bool {
    let Some(open) = line.iter().position(|&b| b == b'<') else {
        return false;
    };
    let path = &line[open + 1..];
    let n = POSTMASTER.len();
    path.len() > n && path[..n].eq_ignore_ascii_case(POSTMASTER.as_bytes()) && path[n] == b'>'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postmaster_in_any_case_and_only_without_a_domain() {
        assert!(is_postmaster(b"RCPT TO:<postmaster>"));
        assert!(is_postmaster(b"rcpt to:<PostMaster> NOTIFY=NEVER"));
        assert!(!is_postmaster(b"RCPT TO:<>"));
        assert!(!is_postmaster(b"RCPT TO:<postmaster@example.test>"));
        assert!(!is_postmaster(b"RCPT TO:<postmasters>"));
        assert!(!is_postmaster(b"RCPT TO:<postmaster"));
    }
}
