//! Who is calling, and may they: HTTP Basic with an admin account's password, a Bearer API
//! token, or a panel session cookie (whose unsafe requests must also carry its CSRF token).
//! Passwords are checked through the login guard, like those of the mail protocols: the same
//! failure counting, lockouts and `[security] auth_failure_delay_ms` before a refusal.

use crate::context::AdminContext;
use crate::control::ControlOnly;
use crate::error::ApiError;
use crate::sessions::{COOKIE, Lifetimes, LoginSession, same_secret};
use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::future::LocalBoxFuture;
use mailroom_config::Config;
use mailroom_shared::Secret;
use mailroom_store::actor::{Authenticate, LoginAttempt, LoginGuard, LoginProtocol, Verdict};
use mailroom_store::{Account, Role, StoreError};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The header that carries a session's CSRF token on unsafe API calls.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub(crate) enum Via {
    /// A panel sign-in (cookie), with its session.
    Session { id: String, session: LoginSession },
    /// HTTP Basic.
    Basic,
    /// A Bearer API token.
    Token,
}

/// An enabled admin account, and how it signed in.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub account: Account,
    pub via: Via,
}

/// Extracts the caller of a JSON API request, or answers 401/403/429.
pub(crate) struct ApiCaller(pub Caller);

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { api_caller(&req).await.map(ApiCaller) })
    }
}

fn context(req: &HttpRequest) -> Result<web::Data<AdminContext>, ApiError> {
    req.app_data::<web::Data<AdminContext>>()
        .cloned()
        .ok_or_else(|| ApiError::unavailable("admin context missing"))
}

/// The client's address (loopback if actix-web cannot tell, as in tests without a socket).
pub(crate) fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

async fn api_caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    let ctx = context(req)?;
    let snapshot = ctx
        .snapshot()
        .await
        .ok_or_else(|| ApiError::unavailable("the server is shutting down"))?;
    let config = &snapshot.config;
    let control_only = req.app_data::<ControlOnly>().is_some();
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not text"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer")
            && let Some(caller) = ctx.control.caller(rest, client_ip(req))
        {
            return Ok(caller);
        }
        if control_only {
            return Err(unauthorized(
                "the control listener takes only the control secret",
            ));
        }
        return if scheme.eq_ignore_ascii_case("basic") {
            let (address, password) = basic_credentials(rest)?;
            let account = sign_in(&ctx, config, client_ip(req), "basic", address, password).await?;
            Ok(Caller {
                account,
                via: Via::Basic,
            })
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let secret = rest.to_string();
            match ctx.db.token_account(&secret).await? {
                Some(account) => Ok(Caller {
                    account,
                    via: Via::Token,
                }),
                None => Err(unauthorized("unknown or revoked API token")),
            }
        } else {
            Err(unauthorized(format!(
                "unsupported authorization scheme {scheme:?}: use Basic or Bearer"
            )))
        };
    }
    if control_only {
        return Err(unauthorized(
            "the control listener takes only the control secret",
        ));
    }
    let Some(caller) = session_caller(req, &ctx, config).await? else {
        return Err(unauthorized(
            "sign in: HTTP Basic with an admin account, a Bearer API token, or a panel session",
        ));
    };
    if let Via::Session { session, .. } = &caller.via
        && is_unsafe(req.method())
    {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same_secret(sent, &session.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token (send the X-CSRF-Token header of your session)",
            ));
        }
    }
    Ok(caller)
}

/// Whether a request changes something (and so needs a CSRF token from a session).
pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// How long sign-ins last under `config`.
pub(crate) fn lifetimes(config: &Config) -> Lifetimes {
    Lifetimes {
        idle: Duration::from_secs(config.admin.session_idle_secs),
        max: Duration::from_secs(config.admin.session_max_secs),
    }
}

/// The panel session of the request's cookie, if it is live and its account still an
/// enabled admin. CSRF is the caller's to check.
pub(crate) async fn session_caller(
    req: &HttpRequest,
    ctx: &AdminContext,
    config: &Config,
) -> Result<Option<Caller>, ApiError> {
    let Some(cookie) = req.cookie(COOKIE) else {
        return Ok(None);
    };
    let id = cookie.value().to_string();
    let Some(session) = ctx.logins.get(&id, lifetimes(config)) else {
        return Ok(None);
    };
    let address = session.address.clone();
    let account = match ctx.db.user_get(&address).await {
        Ok(a) => a,
        Err(StoreError::NotFound(_)) => {
            ctx.logins.remove(&id);
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    if account.role != Role::Admin || account.disabled {
        ctx.logins.remove(&id);
        return Ok(None);
    }
    Ok(Some(Caller {
        account,
        via: Via::Session { id, session },
    }))
}

/// `address:password` from a Basic credential (RFC 7617).
fn basic_credentials(encoded: &str) -> Result<(String, String), ApiError> {
    let bad = || unauthorized("malformed Basic credentials");
    let raw = BASE64.decode(encoded).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (address, password) = text.split_once(':').ok_or_else(bad)?;
    Ok((address.to_string(), password.to_string()))
}

/// Check an admin's password through the login guard: the account, or 401 (after the
/// guard's delay), 403 (not an admin), 429 (locked out, after the same delay; the password
/// was not checked), 503.
pub(crate) async fn sign_in(
    ctx: &AdminContext,
    config: &Config,
    client: IpAddr,
    mechanism: &str,
    address: String,
    password: String,
) -> Result<Account, ApiError> {
    let verdict = ctx
        .store
        .send(Authenticate {
            address,
            password: Secret::new(password),
            attempt: LoginAttempt {
                protocol: LoginProtocol::Admin,
                mechanism: mechanism.to_string(),
                client,
            },
            guard: LoginGuard::from_config(config),
        })
        .await
        .unwrap_or_else(|e| Verdict::Unavailable(e.to_string()));
    match verdict {
        Verdict::Accepted(account) if account.role == Role::Admin => Ok(account),
        Verdict::Accepted(account) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is not an admin", account.address),
        )),
        Verdict::Refused => Err(unauthorized("wrong address or password")),
        Verdict::LockedOut(lockout) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            lockout.refusal_text(),
        )),
        Verdict::Unavailable(e) => Err(StoreError::Unavailable(e).into()),
    }
}

pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let enc = BASE64.encode("admin@example.test:pa:ss");
        let (a, p) = basic_credentials(&enc).expect("valid");
        assert_eq!(a, "admin@example.test");
        assert_eq!(p, "pa:ss");
        assert!(basic_credentials("%%%").is_err());
        assert!(basic_credentials(&BASE64.encode("no-colon")).is_err());
    }

    #[test]
    fn only_reads_are_safe() {
        assert!(!is_unsafe(&Method::GET));
        assert!(!is_unsafe(&Method::HEAD));
        for m in [Method::POST, Method::PATCH, Method::DELETE, Method::PUT] {
            assert!(is_unsafe(&m));
        }
    }
}
