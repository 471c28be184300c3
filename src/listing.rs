//! How the management subcommands print their lists, the same whether the rows came from a
//! running server's API ([`crate::remote`]) or from the store opened here ([`crate::manage`]).

use mailroom_shared::queue::QueueRow;

/// `mailroom user list`: one account a line.
pub(crate) fn account(address: &str, role: &str, quota_bytes: u64, used: u64) {
    let quota = match quota_bytes {
        0 => "unlimited".to_string(),
        q => q.to_string(),
    };
    println!("{address}\t{role}\tquota={quota}\tused={used}");
}

/// `mailroom lockout list`: one counter a line; `locked` when it refuses logins now.
pub(crate) fn lockout(scope: &str, target: &str, failures: u32, until: i64, locked: bool) {
    let until = mail_parser::DateTime::from_timestamp(until).to_rfc3339();
    let state = if locked {
        format!("LOCKED until {until}")
    } else {
        format!("remembered until {until}")
    };
    println!("{scope}\t{target}\tfailures={failures}\t{state}");
}

/// `mailroom queue list`: one recipient a line.
pub(crate) fn queue(rows: &[QueueRow]) {
    if rows.is_empty() {
        println!("the queue is empty");
    }
    for r in rows {
        let sender = if r.sender.is_empty() { "<>" } else { &r.sender };
        println!(
            "{}\t{}\t{} -> {}\t{}\tattempts={}\tnext={}\tsize={}\terror={}",
            r.message_id,
            r.status,
            sender,
            r.recipient,
            r.created,
            r.attempts,
            r.next_attempt,
            r.size,
            r.last_error.as_deref().unwrap_or("-")
        );
    }
}
