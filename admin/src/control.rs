//! The command line's access to the running server: the JSON API, for the `mailroom` command
//! line of the same host, so that its changes go through the server (and are heard by IMAP
//! IDLE sessions and the rest) instead of beside it.
//!
//! It is the admin listener when that listens on loopback (or the wildcard) without TLS;
//! otherwise a control listener of its own on a free loopback port, which serves only the
//! API and takes no credential but the control secret. The control secret is random, made at
//! each start, and left by `mailroom::run` in the data directory (0600) for the command line;
//! it acts as an admin, only from a loopback address, and is compared in constant time.

use crate::auth::Caller;
use crate::sessions::{random_token, same_secret};
use mailroom_shared::Secret;
use mailroom_store::{Account, Role};
use std::net::{IpAddr, SocketAddr};

/// Where the command line reaches the running server, and how it proves it may.
#[derive(Debug, Clone)]
pub struct ControlAccess {
    /// The control listener's address (loopback).
    pub addr: SocketAddr,
    /// The Bearer credential it takes.
    pub secret: Secret,
}

/// The name the command line acts under in the log (never a valid address, so never taken
/// for an account: an admin may not delete "themselves", the command line may delete any).
pub(crate) const CALLER_NAME: &str = "the mailroom command line";

/// Marks the control listener's app: there, only the control credential is accepted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ControlOnly;

/// The control credential of this run.
pub(crate) struct ControlSecret(Secret);

impl ControlSecret {
    /// A fresh random secret; `None` if the system's random source failed.
    pub(crate) fn generate() -> Option<Self> {
        random_token().map(|t| Self(Secret::new(t)))
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.0
    }

    /// The caller `bearer` proves, when it is this secret and `client` is a loopback address.
    pub(crate) fn caller(&self, bearer: &str, client: IpAddr) -> Option<Caller> {
        (client.is_loopback() && same_secret(bearer, self.0.expose())).then(|| Caller {
            account: Account {
                id: 0,
                address: CALLER_NAME.into(),
                role: Role::Admin,
                quota_bytes: 0,
                used_bytes: 0,
                disabled: false,
            },
            via: crate::auth::Via::Token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn the_secret_is_an_admin_only_from_loopback() {
        let control = ControlSecret::generate().expect("random");
        let secret = control.secret().expose().to_string();
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let caller = control.caller(&secret, local).expect("accepted");
        assert_eq!(caller.account.role, Role::Admin);
        assert!(
            control
                .caller(&secret, "::1".parse().expect("ip"))
                .is_some()
        );
        assert!(
            control
                .caller(&secret, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
                .is_none(),
            "never from another host"
        );
        let mut wrong = secret.clone();
        wrong.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
        assert!(control.caller(&wrong, local).is_none());
        assert!(control.caller("", local).is_none());
        assert_ne!(
            ControlSecret::generate().expect("random").secret().expose(),
            secret,
            "a new secret each start"
        );
    }
}
