//! Tests of `mailroom::run` and of how the server ends: in-process (the library called as
//! `main` calls it) and against the built binary. The protocol suites live in tests/e2e.

mod run_in_process;
mod store_failure;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mailroom");

/// Send one message to alice@example.test over SMTP on `port`: the answer to its data, or
/// an error if the server refused or dropped the session before that (as a server that is
/// stopping does).
pub fn try_deliver(port: u16, text: &str) -> anyhow::Result<String> {
    use anyhow::ensure;
    let mut smtp = mailroom_tests::LineClient::connect(port)?;
    let greeting = smtp.read_line()?;
    ensure!(greeting.starts_with("220 "), "greeting {greeting:?}");
    for (command, want) in [
        ("EHLO client.test", "250"),
        ("MAIL FROM:<bob@sender.test>", "250"),
        ("RCPT TO:<alice@example.test>", "250"),
        ("DATA", "354"),
    ] {
        let reply = smtp.reply(command)?;
        ensure!(reply.starts_with(want), "{command}: {reply:?}");
    }
    smtp.send_raw(format!("Subject: in process\r\n\r\n{text}\r\n.\r\n").as_bytes())?;
    smtp.read_line()
}
