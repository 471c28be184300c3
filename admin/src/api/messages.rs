//! `/api/v1/accounts/{address}/mailboxes…`: an account's mailboxes and messages as its IMAP
//! clients see them, and an admin's removal of one message.
//!
//! Everything goes through the `MailboxStore` actor, the one write path: a removal is
//! remembered for QRESYNC, credited to the account's quota and published as
//! `MailboxChanged`, so an IMAP session on the mailbox sends `* n EXPUNGE` at once. This
//! module reads and writes no database of its own.

use crate::auth::ApiCaller;
use crate::context::AdminContext;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use mailroom_store::actor::{FetchMeta, ListMailboxes, RemoveMessages, Select};
use mailroom_store::mime::{Address, MessageMeta};
use mailroom_store::{
    FLAG_ANSWERED, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_SEEN, MailboxInfo, MessageInfo,
    StoreError,
};
use serde::Serialize;

/// A mailbox with its counters, as IMAP STATUS reports them.
#[derive(Serialize)]
pub(crate) struct MailboxView {
    name: String,
    /// RFC 6154 attribute such as `\Sent`, if any.
    special_use: Option<String>,
    uidvalidity: u32,
    uidnext: u32,
    highestmodseq: u64,
    subscribed: bool,
    /// Messages in it.
    exists: u32,
    /// Messages without `\Seen`.
    unseen: u32,
    /// Octets its messages take.
    size: u64,
}

impl From<MailboxInfo> for MailboxView {
    fn from(m: MailboxInfo) -> Self {
        Self {
            name: m.name,
            special_use: m.special_use,
            uidvalidity: m.uidvalidity,
            uidnext: m.uidnext,
            highestmodseq: m.highestmodseq,
            subscribed: m.subscribed,
            exists: m.exists,
            unseen: m.unseen,
            size: m.size,
        }
    }
}

/// One address of the stored envelope.
#[derive(Serialize)]
pub(crate) struct AddressView {
    /// The display name, if any (encoded words kept as stored).
    name: Option<String>,
    /// `mailbox@host`.
    address: String,
}

/// A message as IMAP FETCH (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE) describes it.
#[derive(Serialize)]
pub(crate) struct MessageView {
    uid: u32,
    /// Octets (RFC822.SIZE).
    size: u64,
    /// System flags (`\Seen` …) then keywords.
    flags: Vec<String>,
    /// INTERNALDATE, unix seconds.
    internal_date: i64,
    modseq: u64,
    /// From the stored envelope; `None` when the message has no Subject.
    subject: Option<String>,
    /// From the stored envelope (group markers left out).
    from: Vec<AddressView>,
}

/// The IMAP names of the system flags in `bits`, then `keywords`.
fn flag_names(bits: u8, keywords: Vec<String>) -> Vec<String> {
    let system = [
        (FLAG_SEEN, "\\Seen"),
        (FLAG_ANSWERED, "\\Answered"),
        (FLAG_FLAGGED, "\\Flagged"),
        (FLAG_DELETED, "\\Deleted"),
        (FLAG_DRAFT, "\\Draft"),
    ];
    system
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| (*name).to_string())
        .chain(keywords)
        .collect()
}

fn address_view(a: &Address) -> Option<AddressView> {
    // A group start or end has no host: it names no one.
    let (mailbox, host) = (a.mailbox.as_deref()?, a.host.as_deref()?);
    Some(AddressView {
        name: a.name.clone(),
        address: format!("{mailbox}@{host}"),
    })
}

fn message_view(info: MessageInfo, meta: &MessageMeta) -> MessageView {
    MessageView {
        uid: info.uid,
        size: info.size,
        flags: flag_names(info.flags, info.keywords),
        internal_date: info.internal_date,
        modseq: info.modseq,
        subject: meta.envelope.subject.clone(),
        from: meta.envelope.from.iter().filter_map(address_view).collect(),
    }
}

/// The store's answer, or 503 when the actor is gone.
fn answered<T>(reply: Result<Result<T, StoreError>, actix::MailboxError>) -> Result<T, ApiError> {
    reply
        .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))?
        .map_err(ApiError::from)
}

/// The id of the account `address` (404 if there is none).
async fn account_id(ctx: &AdminContext, address: String) -> Result<i64, ApiError> {
    let account = ctx.db.user_get(&address).await?;
    Ok(account.id)
}

/// The account's mailbox `name` (`INBOX` in any case), or 404.
async fn mailbox(ctx: &AdminContext, account_id: i64, name: &str) -> Result<MailboxInfo, ApiError> {
    let all = answered(ctx.store.send(ListMailboxes { account_id }).await)?;
    all.into_iter()
        .find(|m| m.name == name || (m.name == "INBOX" && name.eq_ignore_ascii_case("INBOX")))
        .ok_or_else(|| ApiError::not_found(format!("no mailbox {name:?}")))
}

/// `GET /accounts/{address}/mailboxes`: every mailbox of the account, with its counters.
pub(crate) async fn mailboxes(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    address: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account_id = account_id(&ctx, address.into_inner()).await?;
    let all = answered(ctx.store.send(ListMailboxes { account_id }).await)?;
    let views: Vec<MailboxView> = all.into_iter().map(MailboxView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// `GET /accounts/{address}/mailboxes/{name}/messages`: the mailbox's messages by ascending
/// UID, with the subject and senders of their stored envelopes (no body is read).
pub(crate) async fn messages(
    _: ApiCaller,
    ctx: web::Data<AdminContext>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (address, name) = path.into_inner();
    let account_id = account_id(&ctx, address).await?;
    let found = mailbox(&ctx, account_id, &name).await?;
    let (info, listed) = answered(
        ctx.store
            .send(Select {
                account_id,
                name: found.name,
            })
            .await,
    )?;
    let uids = listed.iter().map(|m| m.uid).collect();
    let metas = answered(
        ctx.store
            .send(FetchMeta {
                account_id,
                mailbox_id: info.id,
                uids,
            })
            .await,
    )?;
    // Both are by ascending UID; a message expunged between the two reads has no meta and
    // is left out, as it is gone.
    let views: Vec<MessageView> = metas
        .into_iter()
        .map(|(m, meta)| message_view(m, &meta))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// `DELETE /accounts/{address}/mailboxes/{name}/messages/{uid}`: remove the message at once,
/// whatever its flags (as POP3's DELE and QUIT do); 404 if it is not there.
pub(crate) async fn remove(
    caller: ApiCaller,
    ctx: web::Data<AdminContext>,
    path: web::Path<(String, String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let (address, name, uid) = path.into_inner();
    let account_id = account_id(&ctx, address.clone()).await?;
    let found = mailbox(&ctx, account_id, &name).await?;
    let removed = answered(
        ctx.store
            .send(RemoveMessages {
                account_id,
                mailbox_id: found.id,
                uids: vec![uid],
            })
            .await,
    )?;
    if removed.is_empty() {
        return Err(ApiError::not_found(format!(
            "no message with UID {uid} in {}",
            found.name
        )));
    }
    tracing::info!(account = %address, mailbox = %found.name, uid, by = %caller.0.account.address, "an admin removed a message");
    Ok(HttpResponse::NoContent().finish())
}
