//! The `SpamScorer` actor: scores messages for SMTP sessions and learns from users.
//!
//! - [`Score`] (sent by the SMTP session at the end of DATA): parse and tokenize on the
//!   blocking pool, ask the store which claimed domains are ours and the recipients'
//!   classifier counts (one read each), then decide. A store failure costs only that part
//!   (logged; the rules still score), so scoring never makes mail wait on a sick store.
//! - `EventRecorded` (from the bus): a `MessageMoved` into Junk (special use `\Junk`, or the
//!   name `Junk`) trains each moved body as spam for the account; out of Junk into anything
//!   but Trash trains ham (deleting spam is not saying it was good mail). The body is read
//!   from the store by blob hash, tokenized on the blocking pool, and trained in one write.
//! - `ConfigChanged` (from the bus): new thresholds and weights for later messages.
//!
//! Thin: every decision is made by the pure functions of the parent module.

use std::sync::Arc;

use actix::prelude::*;
use mailroom_shared::bus::Bus;
use mailroom_shared::events::{EventData, EventRecorded, MessageMoved};
use mailroom_shared::msg::ConfigChanged;
use mailroom_store::MailboxStore;
use mailroom_store::spam::{
    BayesCounts, FetchBlob, HostedDomains, ReadBayes, SpamClass, TrainBayes,
};

use super::parsed::Parsed;
use super::tokens::token_hashes;
use super::{Facts, Settings, SpamVerdict, claimed_domains, decide, rules};

/// Score one message for its recipients. Sent by the SMTP session at the end of DATA, after
/// authentication; handled by [`SpamScorer`].
#[derive(Message, Clone)]
#[rtype(result = "Result<SpamVerdict, SpamError>")]
pub struct Score {
    /// The local recipients (account ids from `Resolution::Local`).
    pub account_ids: Vec<i64>,
    /// The message as received, before any header the session adds.
    pub raw: Arc<[u8]>,
    /// What the session knows of it.
    pub facts: Facts,
}

impl std::fmt::Debug for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Score")
            .field("account_ids", &self.account_ids)
            .field("size", &self.raw.len())
            .field("facts", &self.facts)
            .finish()
    }
}

/// Why a message could not be scored. The session then delivers it unscored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpamError {
    /// The analysis on the blocking pool did not finish (it panicked or the runtime is
    /// shutting down).
    #[error("spam analysis failed: {0}")]
    Analysis(String),
}

/// The spam scoring actor. Start one per process with [`SpamScorer::start_on`].
pub struct SpamScorer {
    store: Addr<MailboxStore>,
    settings: Arc<Settings>,
}

impl Actor for SpamScorer {
    type Context = Context<Self>;
}

impl SpamScorer {
    /// A scorer asking `store`, with `settings`.
    pub fn new(store: Addr<MailboxStore>, settings: Settings) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
        }
    }

    /// Start on the current arbiter with `[spam]` from `config`, subscribed on `bus` to the
    /// events it learns from and to reloads.
    pub fn start_on(
        bus: &Bus,
        store: Addr<MailboxStore>,
        config: &mailroom_config::Spam,
    ) -> Addr<Self> {
        let addr = Self::new(store, Settings::from(config)).start();
        bus.subscribe(addr.clone().recipient::<EventRecorded>());
        bus.subscribe(addr.clone().recipient::<ConfigChanged>());
        addr
    }
}

impl Handler<Score> for SpamScorer {
    type Result = ResponseFuture<Result<SpamVerdict, SpamError>>;

    fn handle(&mut self, msg: Score, _: &mut Context<Self>) -> Self::Result {
        let (store, settings) = (self.store.clone(), self.settings.clone());
        Box::pin(async move {
            if !settings.enabled {
                return Ok(SpamVerdict::disabled(&msg.account_ids));
            }
            let raw = msg.raw;
            let (parsed, tokens) = tokio::task::spawn_blocking(move || {
                let parsed = Parsed::from_raw(&raw);
                let tokens = token_hashes(&parsed);
                (parsed, tokens)
            })
            .await
            .map_err(|e| SpamError::Analysis(e.to_string()))?;

            let claimed = claimed_domains(&parsed, &msg.facts);
            let hosted = if claimed.is_empty() {
                Vec::new()
            } else {
                match store.send(HostedDomains { domains: claimed }).await {
                    Ok(Ok(hosted)) => hosted,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "Spam scoring could not ask which domains are ours; scoring without it.");
                        Vec::new()
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Spam scoring could not reach the store; scoring without it.");
                        Vec::new()
                    }
                }
            };
            let hits = rules::evaluate(&parsed, &msg.facts, &hosted, &settings.weights);

            let untrained = || -> Vec<(i64, BayesCounts)> {
                msg.account_ids
                    .iter()
                    .map(|&id| (id, BayesCounts::default()))
                    .collect()
            };
            let counts = if msg.account_ids.is_empty() {
                Vec::new()
            } else {
                let ask = ReadBayes {
                    account_ids: msg.account_ids.clone(),
                    tokens: tokens.clone(),
                };
                match store.send(ask).await {
                    Ok(Ok(counts)) => counts,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "Spam scoring could not read classifier counts; rules only.");
                        untrained()
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Spam scoring could not reach the store; rules only.");
                        untrained()
                    }
                }
            };
            Ok(decide(hits, &tokens, &counts, &settings))
        })
    }
}

/// How a move trains, if at all.
pub fn training_of(m: &MessageMoved) -> Option<SpamClass> {
    let is = |name: &str, special: Option<&str>, use_: &str, fallback: &str| {
        special.is_some_and(|s| s.eq_ignore_ascii_case(use_)) || name.eq_ignore_ascii_case(fallback)
    };
    // RFC 6154 §2: \Junk holds mail deemed spam, \Trash mail to be deleted.
    let into_junk = is(&m.to_mailbox, m.to_special_use.as_deref(), "\\Junk", "Junk");
    let from_junk = is(
        &m.from_mailbox,
        m.from_special_use.as_deref(),
        "\\Junk",
        "Junk",
    );
    let into_trash = is(
        &m.to_mailbox,
        m.to_special_use.as_deref(),
        "\\Trash",
        "Trash",
    );
    match (from_junk, into_junk) {
        (false, true) => Some(SpamClass::Spam),
        (true, false) if !into_trash => Some(SpamClass::Ham),
        _ => None,
    }
}

/// Train one moved body for its account.
async fn learn(
    store: &Addr<MailboxStore>,
    account_id: i64,
    blob: String,
    class: SpamClass,
) -> Result<(), String> {
    let raw = store
        .send(FetchBlob {
            account_id,
            blob: blob.clone(),
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let tokens = tokio::task::spawn_blocking(move || token_hashes(&Parsed::from_raw(&raw)))
        .await
        .map_err(|e| e.to_string())?;
    store
        .send(TrainBayes {
            account_id,
            blob,
            class,
            tokens,
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(())
}

impl Handler<EventRecorded> for SpamScorer {
    // A future, so that a sender awaiting the event (tests) waits for the training too.
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: EventRecorded, _: &mut Context<Self>) -> Self::Result {
        let EventData::MessageMoved(moved) = msg.data else {
            return Box::pin(async {});
        };
        let Some(class) = training_of(&moved) else {
            return Box::pin(async {});
        };
        let store = self.store.clone();
        Box::pin(async move {
            for blob in moved.blobs {
                if let Err(e) = learn(&store, moved.account_id, blob.clone(), class).await {
                    // A message expunged since the move cannot be read: nothing to learn.
                    tracing::warn!(account_id = moved.account_id, blob = %blob, error = %e, "Could not train the spam classifier on a moved message.");
                }
            }
        })
    }
}

impl Handler<ConfigChanged> for SpamScorer {
    type Result = ();

    fn handle(&mut self, msg: ConfigChanged, _: &mut Context<Self>) {
        self.settings = Arc::new(Settings::from(&msg.0.config.spam));
    }
}

#[cfg(test)]
mod tests;
