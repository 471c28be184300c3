//! Tests of `mailroom::run` and of how the server ends: in-process (the library called as
//! `main` calls it) and against the built binary. The protocol suites live in tests/e2e.

mod run_in_process;
mod store_failure;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mailroom");
