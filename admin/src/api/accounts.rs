//! `/api/v1/accounts`: mail accounts, their quota, role and switch.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_shared::Secret;
use mailroom_shared::password::MIN_PASSWORD_LEN;
use mailroom_store::{Account, AccountChange, Role};
use serde::{Deserialize, Serialize};

/// An account as the API shows it (never its password hash).
#[derive(Serialize)]
pub(crate) struct AccountView {
    address: String,
    role: &'static str,
    /// Octets; 0 = unlimited.
    quota: u64,
    /// Octets its messages take.
    used: u64,
    disabled: bool,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            address: a.address,
            role: a.role.as_str(),
            quota: a.quota_bytes,
            used: a.used_bytes,
            disabled: a.disabled,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccount {
    address: String,
    password: String,
    #[serde(default)]
    quota: Option<u64>,
    #[serde(default)]
    role: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountPatch {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    quota: Option<u64>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
}

fn role(text: Option<&str>) -> Result<Option<Role>, ApiError> {
    text.map(|r| {
        r.parse::<Role>().map_err(|_| {
            ApiError::bad_request(format!("role must be \"user\" or \"admin\", not {r:?}"))
        })
    })
    .transpose()
}

pub(crate) async fn list(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
) -> Result<HttpResponse, ApiError> {
    let accounts = ctx.db.user_list().await?;
    let views: Vec<AccountView> = accounts.into_iter().map(AccountView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

pub(crate) async fn get(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    address: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let address = address.into_inner();
    let account = ctx.db.user_get(&address).await?;
    Ok(HttpResponse::Ok().json(AccountView::from(account)))
}

pub(crate) async fn create(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    body: web::Json<NewAccount>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner();
    let role = role(new.role.as_deref())?.unwrap_or(Role::User);
    let password = Secret::new(new.password);
    let account = ctx
        .db
        .user_add(&new.address, &password, role, new.quota)
        .await?;
    tracing::info!(account = %account.address, role = %account.role, "account created in the admin panel");
    Ok(HttpResponse::Created().json(AccountView::from(account)))
}

pub(crate) async fn change(
    caller: ApiCaller,
    ctx: web::Data<AdminContext>,
    address: web::Path<String>,
    body: web::Json<AccountPatch>,
) -> Result<HttpResponse, ApiError> {
    let address = address.into_inner();
    let patch = body.into_inner();
    let change = AccountChange {
        quota_bytes: patch.quota,
        role: role(patch.role.as_deref())?,
        disabled: patch.disabled,
    };
    if patch.password.is_none() && change == AccountChange::default() {
        return Err(ApiError::bad_request(
            "nothing to change: give password, quota, role or disabled",
        ));
    }
    // Checked before anything changes, so a bad password leaves the rest unchanged too.
    if let Some(p) = &patch.password
        && p.chars().count() < MIN_PASSWORD_LEN
    {
        return Err(ApiError::bad_request(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let ends_sessions = patch.password.is_some() || change.disabled == Some(true);
    let password = patch.password.map(Secret::new);
    let target = address.clone();
    // The change first: a refused one costs no argon2 hash and changes nothing.
    let account = ctx.db.user_change(&target, &change).await?;
    if let Some(p) = &password {
        ctx.db.user_passwd(&target, p).await?;
    }
    if ends_sessions {
        ctx.logins.remove_account(&account.address);
    }
    tracing::info!(account = %account.address, by = %caller.0.account.address, "account changed in the admin panel");
    Ok(HttpResponse::Ok().json(AccountView::from(account)))
}

pub(crate) async fn remove(
    caller: ApiCaller,
    ctx: web::Data<AdminContext>,
    address: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let address = address.into_inner();
    if address.eq_ignore_ascii_case(&caller.0.account.address) {
        return Err(ApiError::bad_request(
            "you cannot delete the account you are signed in with",
        ));
    }
    let target = address.clone();
    ctx.db.user_remove(&target).await?;
    ctx.logins.remove_account(&address);
    tracing::info!(account = %address, "account deleted in the admin panel");
    Ok(HttpResponse::NoContent().finish())
}
