//! Mailbox management (CREATE, DELETE, RENAME, SUBSCRIBE, lost subscriptions), the STATUS
//! counters of `MailboxInfo`, the completeness of `Changes` and the `\\Recent` claims.

use std::ops::Deref;

use mailroom_shared::msg::{MailboxChange, MailboxChanged};
use mailroom_store::actor::{
    Append, Changes, ClaimRecent, Copy, CreateMailbox, DeleteMailbox, Expunge, FetchBody,
    ListMailboxes, LostSubscriptions, Move, RenameMailbox, Select, SetSubscribed,
};
use mailroom_store::{
    Appended, ChangeSet, FLAG_DELETED, FLAG_FLAGGED, FLAG_SEEN, FlagOp, MailboxInfo, StoreError,
};
use std::sync::Arc;

use crate::announced::Announced;
use crate::mail::{Mail, large, message};
use crate::support::{Harness, each_engine};

/// [`Mail`] with a listener on the bus, and the mailbox requests by name.
struct Boxes {
    mail: Mail,
    heard: Announced,
}

impl Deref for Boxes {
    type Target = Mail;
    fn deref(&self) -> &Mail {
        &self.mail
    }
}

impl Boxes {
    async fn new(h: Harness) -> Self {
        let heard = Announced::listen(&h.bus);
        Boxes {
            mail: Mail::new(h).await,
            heard,
        }
    }

    async fn create(&self, account_id: i64, name: &str) -> Result<MailboxInfo, StoreError> {
        self.ask(CreateMailbox {
            account_id,
            name: name.into(),
        })
        .await
    }

    /// What creating `name` announced.
    async fn create_events(&self, name: &str) -> Vec<MailboxChanged> {
        self.heard.changes().await;
        self.create(self.alice, name).await.expect(name);
        self.heard.changes().await
    }

    async fn delete(&self, account_id: i64, name: &str) -> Result<(), StoreError> {
        self.ask(DeleteMailbox {
            account_id,
            name: name.into(),
        })
        .await
    }

    /// Rename and what it announced.
    async fn rename(&self, from: &str, to: &str) -> Result<Vec<MailboxChanged>, StoreError> {
        self.heard.changes().await;
        self.ask(RenameMailbox {
            account_id: self.alice,
            from: from.into(),
            to: to.into(),
        })
        .await?;
        Ok(self.heard.changes().await)
    }

    /// (Un)subscribe and what it announced.
    async fn subscribe(&self, name: &str, on: bool) -> Result<Vec<MailboxChanged>, StoreError> {
        self.heard.changes().await;
        self.ask(SetSubscribed {
            account_id: self.alice,
            name: name.into(),
            subscribed: on,
        })
        .await?;
        Ok(self.heard.changes().await)
    }

    async fn list(&self, account_id: i64) -> Vec<MailboxInfo> {
        self.ask(ListMailboxes { account_id }).await.expect("list")
    }

    async fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .list(self.alice)
            .await
            .into_iter()
            .map(|b| b.name)
            .collect();
        names.sort();
        names
    }

    async fn info(&self, name: &str) -> MailboxInfo {
        let list = self.list(self.alice).await;
        list.into_iter().find(|b| b.name == name).expect(name)
    }

    async fn changes(&self, mailbox_id: i64, since_modseq: u64) -> Result<ChangeSet, StoreError> {
        self.ask(Changes {
            account_id: self.alice,
            mailbox_id,
            since_modseq,
        })
        .await
    }

    async fn append_to(&self, mailbox: &str, raw: Arc<[u8]>) -> Appended {
        self.ask(Append {
            account_id: self.alice,
            mailbox: mailbox.into(),
            flags: 0,
            keywords: vec![],
            internal_date: Some(1_650_000_000),
            raw,
        })
        .await
        .expect("append")
    }

    async fn mark(&self, mailbox_id: i64, uids: &[u32], flags: u8) {
        self.flags(mailbox_id, uids, FlagOp::Add, flags, &[], None)
            .await;
    }

    async fn expunge_all(&self, mailbox_id: i64) -> Vec<u32> {
        self.ask(Expunge {
            account_id: self.alice,
            mailbox_id,
            uids: None,
        })
        .await
        .expect("expunge")
    }

    async fn used_by(&self, account_id: i64) -> u64 {
        let users = self.h.admin.user_list().await.expect("users");
        users
            .into_iter()
            .find(|a| a.id == account_id)
            .expect("account")
            .used_bytes
    }

    async fn lost(&self, account_id: i64) -> Vec<String> {
        self.ask(LostSubscriptions { account_id })
            .await
            .expect("lost")
    }
}

fn names(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const DEFAULTS: [&str; 6] = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"];

fn with_defaults(extra: &[&str]) -> Vec<String> {
    let mut all: Vec<&str> = DEFAULTS.to_vec();
    all.extend_from_slice(extra);
    names(&all)
}

#[actix_rt::test]
async fn create_makes_missing_superiors_unsubscribed_with_fresh_uidvalidity() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        let before = f.list(f.alice).await;
        // RFC 9051 §6.3.4: the trailing delimiter is dropped, superiors are created.
        let c = f.create(f.alice, "a/b/c/").await.expect("create");
        assert_eq!(c.name, "a/b/c");
        assert_eq!(
            (c.uidnext, c.exists, c.unseen, c.deleted, c.size),
            (1, 0, 0, 0, 0)
        );
        assert_eq!((c.subscribed, c.special_use.as_deref()), (false, None));
        assert_eq!(f.names().await, with_defaults(&["a", "a/b", "a/b/c"]));

        let after = f.list(f.alice).await;
        let mut uidvalidities: Vec<u32> = after.iter().map(|b| b.uidvalidity).collect();
        uidvalidities.sort_unstable();
        uidvalidities.dedup();
        assert_eq!(
            uidvalidities.len(),
            after.len(),
            "every UIDVALIDITY differs"
        );
        let newest_default = before
            .iter()
            .map(|b| b.uidvalidity)
            .max()
            .expect("defaults");
        for b in &after {
            if DEFAULTS.contains(&b.name.as_str()) {
                assert!(
                    b.subscribed,
                    "{} made with the account stays subscribed",
                    b.name
                );
            } else {
                assert!(!b.subscribed, "{} is new", b.name);
                assert!(b.uidvalidity > newest_default, "{}", b.name);
            }
        }
        // The new mailbox takes messages.
        assert_eq!(f.append_to("a/b/c", message(1)).await.uid, 1);
    })
    .await;
}

#[actix_rt::test]
async fn create_announces_only_the_mailboxes_it_made() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        let made = f.create_events("x/y").await;
        assert_eq!(made.len(), 2, "x and x/y");
        assert!(made.iter().all(|c| c.change == MailboxChange::Mailbox));
        assert!(made.iter().all(|c| c.account_id == f.alice));
        assert_eq!(made[0].mailbox_id, f.info("x").await.id, "superior first");
        assert_eq!(made[1].mailbox_id, f.info("x/y").await.id);
        let made = f.create_events("x/z").await;
        assert_eq!(made.len(), 1, "x already existed");
        assert_eq!(made[0].mailbox_id, f.info("x/z").await.id);
    })
    .await;
}

#[actix_rt::test]
async fn creating_an_existing_name_is_exists() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.create(f.alice, "Work").await.expect("create");
        f.create(f.alice, "INBOX/Lists").await.expect("create");
        // RFC 9051 §5.1: INBOX in any case is INBOX, and so is its first level in an inferior.
        for name in [
            "INBOX",
            "inbox",
            "Inbox/",
            "iNbOx",
            "Sent",
            "Work",
            "Work/",
            "inbox/Lists",
        ] {
            let r = f.create(f.alice, name).await;
            assert!(matches!(r, Err(StoreError::Exists(_))), "{name:?}: {r:?}");
        }
        // Names other than INBOX are case-sensitive.
        f.create(f.alice, "work").await.expect("work is not Work");
        // Another account has its own names.
        f.create(f.bob, "Work").await.expect("bob's Work");
        assert_eq!(
            f.names().await,
            with_defaults(&["INBOX/Lists", "Work", "work"])
        );
    })
    .await;
}

#[actix_rt::test]
async fn bad_names_are_invalid_and_create_nothing() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        let long_level = "x".repeat(256);
        let long_name = vec!["y".repeat(250); 5].join("/");
        let huge = "z".repeat(1 << 20);
        let bad = [
            "",
            "/",
            "a//b",
            "/a",
            "new//",
            "new/*",
            "new/%",
            "*",
            "new\r\nA1 LOGOUT",
            "new\n",
            "new\0",
            "new\u{1}",
            "new\u{7f}",
            long_level.as_str(),
            long_name.as_str(),
            huge.as_str(),
        ];
        for name in bad {
            let r = f.create(f.alice, name).await;
            assert!(
                matches!(r, Err(StoreError::Invalid(_))),
                "{:?}: {r:?}",
                &name[..name.len().min(20)]
            );
        }
        assert_eq!(f.names().await, with_defaults(&[]), "not even a superior");
        let r = f.create(999, "x").await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    })
    .await;
}

#[actix_rt::test]
async fn inbox_cannot_be_deleted() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        for name in ["INBOX", "inbox", "InBox"] {
            assert_eq!(
                f.delete(f.alice, name).await,
                Err(StoreError::Invalid("cannot delete INBOX".into()))
            );
        }
        assert!(f.names().await.contains(&"INBOX".to_string()));
    })
    .await;
}

#[actix_rt::test]
async fn deleting_a_missing_mailbox_is_not_found() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.create(f.alice, "Mine").await.expect("create");
        for (who, name) in [(f.alice, "Nope"), (f.alice, "mine"), (f.bob, "Mine")] {
            let r = f.delete(who, name).await;
            assert!(matches!(r, Err(StoreError::NotFound(_))), "{name}: {r:?}");
        }
        f.delete(f.alice, "Mine").await.expect("delete");
        let again = f.delete(f.alice, "Mine").await;
        assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
    })
    .await;
}

#[actix_rt::test]
async fn delete_keeps_inferiors_and_releases_quota_and_blobs() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.create(f.alice, "Work/Old").await.expect("create");
        // One body shared with bob's INBOX and alice's INBOX, copied into Work too; one only in
        // Work. Both large enough to be files, so that their removal can be seen.
        let shared = f
            .deliver(&[f.alice, f.bob], large(1))
            .await
            .expect("deliver");
        let work = f.info("Work").await.id;
        let copy = Copy {
            account_id: f.alice,
            from: shared[0].mailbox_id,
            uids: vec![1],
            to: work,
        };
        f.ask(copy).await.expect("copy");
        f.append_to("Work", large(2)).await;
        assert_eq!(f.refcounts().await, [1, 3]);
        let inbox_size = large(1).len() as u64;
        assert_eq!(
            f.used_by(f.alice).await,
            2 * inbox_size + large(2).len() as u64
        );

        f.delete(f.alice, "Work").await.expect("delete");
        assert_eq!(f.names().await, with_defaults(&["Work/Old"]));
        assert_eq!(
            f.used_by(f.alice).await,
            inbox_size,
            "Work's copies are credited"
        );
        assert_eq!(f.used_by(f.bob).await, inbox_size);
        assert_eq!(f.refcounts().await, [2], "the shared body survives");
        let (_, alice_inbox) = f.mailbox(f.alice, "INBOX").await;
        assert_eq!(alice_inbox.len(), 1);
        let body = FetchBody {
            account_id: f.bob,
            mailbox_id: shared[1].mailbox_id,
            uid: 1,
        };
        assert_eq!(&*f.ask(body).await.expect("body"), &*large(1));
        // The deleted mailbox id is gone for every purpose.
        let r = f.changes(work, 0).await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        let left = f
            .scalar(
                "SELECT (SELECT count(*) FROM messages WHERE mailbox_id = $1) + \
             (SELECT count(*) FROM expunged WHERE mailbox_id = $1)",
                work,
            )
            .await;
        assert_eq!(left, 0);
    })
    .await;
}

#[actix_rt::test]
async fn delete_announces_the_mailbox_with_a_newer_modseq() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        let created = f.create(f.alice, "Gone").await.expect("create");
        f.append_to("Gone", message(1)).await;
        let before = f.info("Gone").await.highestmodseq;
        let m = DeleteMailbox {
            account_id: f.alice,
            name: "Gone".into(),
        };
        f.heard.changes().await;
        f.ask(m).await.expect("delete");
        let changes = f.heard.changes().await;
        assert_eq!(changes.len(), 1);
        let c = &changes[0];
        assert_eq!(
            (c.mailbox_id, c.change),
            (created.id, MailboxChange::Mailbox)
        );
        assert!(c.modseq > before);
    })
    .await;
}

#[actix_rt::test]
async fn uidvalidity_is_never_reused_after_delete_and_create() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let b = f.create(f.alice, "Again").await.expect("create");
            f.append_to("Again", message(1)).await;
            assert!(!seen.contains(&b.uidvalidity), "{} reused", b.uidvalidity);
            assert!(seen.iter().all(|&old| b.uidvalidity > old));
            seen.push(b.uidvalidity);
            f.delete(f.alice, "Again").await.expect("delete");
        }
        // A mailbox made by the admin CLI meanwhile draws from the same counter.
        let dave = f.h.account("dave@example.test", "password1").await;
        let daves = f.list(dave).await;
        assert!(daves.iter().all(|b| b.uidvalidity > seen[2]));
        let after = f.create(f.alice, "Again").await.expect("create");
        assert!(daves.iter().all(|b| after.uidvalidity > b.uidvalidity));
    })
    .await;
}

#[actix_rt::test]
async fn rename_takes_inferiors_and_keeps_uidvalidity_and_messages() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.create(f.alice, "a/x/y").await.expect("create");
        f.create(f.alice, "ab")
            .await
            .expect("a sibling sharing a prefix");
        f.create(f.alice, "a-b").await.expect("another");
        f.append_to("a/x", message(1)).await;
        let (a, ax, axy) = (
            f.info("a").await,
            f.info("a/x").await,
            f.info("a/x/y").await,
        );

        let events = f.rename("a", "b/c").await.expect("rename");
        // RFC 9051 §6.3.6: inferiors follow; superiors of the new name are created.
        assert_eq!(
            f.names().await,
            with_defaults(&["a-b", "ab", "b", "b/c", "b/c/x", "b/c/x/y"])
        );
        for (old, new) in [(&a, "b/c"), (&ax, "b/c/x"), (&axy, "b/c/x/y")] {
            let now = f.info(new).await;
            assert_eq!(
                (now.id, now.uidvalidity, now.uidnext),
                (old.id, old.uidvalidity, old.uidnext)
            );
            assert_eq!((now.exists, now.size), (old.exists, old.size));
        }
        let (_, msgs) = f.mailbox(f.alice, "b/c/x").await;
        assert_eq!(msgs.len(), 1);
        let gone = f
            .ask(Select {
                account_id: f.alice,
                name: "a/x".into(),
            })
            .await;
        assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
        let b = f.info("b").await;
        assert!(!b.subscribed);
        let mut ids: Vec<i64> = events.iter().map(|e| e.mailbox_id).collect();
        ids.sort_unstable();
        let mut want = vec![a.id, ax.id, axy.id, b.id];
        want.sort_unstable();
        assert_eq!(ids, want);
        assert!(events.iter().all(|e| e.change == MailboxChange::Mailbox));
    })
    .await;
}

#[actix_rt::test]
async fn rename_to_a_superior_that_frees_names_works() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        // `a/b` → `a` turns `a/b/b` into `a/b`: a name this rename itself vacates.
        f.create(f.alice, "a/b/b/x").await.expect("create");
        f.delete(f.alice, "a").await.expect("delete a");
        let inner = f.info("a/b/b").await;
        f.rename("a/b", "a").await.expect("rename");
        assert_eq!(f.names().await, with_defaults(&["a", "a/b", "a/b/x"]));
        assert_eq!(f.info("a/b").await.id, inner.id);
    })
    .await;
}

#[actix_rt::test]
async fn rename_special_use_and_subscription_move_with_the_mailbox() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        let sent = f.info("Sent").await;
        f.rename("Sent", "Old/Sent").await.expect("rename");
        let moved = f.info("Old/Sent").await;
        assert_eq!(moved.special_use.as_deref(), Some("\\Sent"));
        assert_eq!((moved.id, moved.subscribed), (sent.id, true));
        assert!(f.list(f.alice).await.iter().all(|b| b.name != "Sent"));
    })
    .await;
}

#[actix_rt::test]
async fn rename_errors() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.create(f.alice, "a/x").await.expect("create");
        f.create(f.alice, "b/x").await.expect("create");
        let before = f.names().await;
        type Renamed = Result<Vec<MailboxChanged>, StoreError>;
        fn exists(r: &Renamed) -> bool {
            matches!(r, Err(StoreError::Exists(_)))
        }
        fn not_found(r: &Renamed) -> bool {
            matches!(r, Err(StoreError::NotFound(_)))
        }
        fn invalid(r: &Renamed) -> bool {
            matches!(r, Err(StoreError::Invalid(_)))
        }
        type Check = fn(&Renamed) -> bool;
        let cases: Vec<(&str, &str, Check)> = vec![
            ("a", "Sent", exists),
            ("a", "a", exists),
            ("a", "b/x/", exists),
            // RFC 9051 §6.3.6: INBOX always exists.
            ("a", "INBOX", exists),
            ("a", "inbox", exists),
            ("Sent", "Inbox/", exists),
            // a/x would become b/x, which exists and is not being renamed.
            ("a", "b", exists),
            ("nope", "c", not_found),
            ("A", "c", not_found),
            ("a", "c//d", invalid),
            ("a", "c*", invalid),
            ("a", "c\r\n", invalid),
            ("a", "", invalid),
            ("a", "a/sub", invalid),
        ];
        for (from, to, check) in cases {
            let r = f.rename(from, to).await;
            assert!(check(&r), "{from} -> {to:?}: {r:?}");
        }
        // An inferior whose new name would be too long fails the whole rename.
        let long = "l".repeat(250);
        let to = [long.as_str(); 3].join("/");
        f.create(f.alice, &format!("m/{long}"))
            .await
            .expect("m/long");
        let r = f.rename("m", &to).await;
        assert!(invalid(&r), "{r:?}");
        let mut expected = before.clone();
        expected.extend(["m".to_string(), format!("m/{long}")]);
        expected.sort();
        assert_eq!(f.names().await, expected, "nothing changed");
    })
    .await;
}

#[actix_rt::test]
async fn renaming_inbox_moves_its_messages_and_keeps_it() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        for n in 0..3 {
            f.deliver(&[f.alice], message(n)).await.expect("deliver");
        }
        let inbox = f.info("INBOX").await;
        f.mark(inbox.id, &[2], FLAG_SEEN).await;
        f.mark(inbox.id, &[1], FLAG_DELETED).await;
        assert_eq!(f.expunge_all(inbox.id).await, [1]);
        f.create(f.alice, "INBOX/Child").await.expect("child");
        let before = f.info("INBOX").await;
        let used = f.used_by(f.alice).await;
        let blobs = f.refcounts().await;

        let events = f.rename("inbox", "Old/Mail").await.expect("rename");

        let old = f.info("Old/Mail").await;
        assert_ne!(old.uidvalidity, before.uidvalidity);
        assert!(old.uidvalidity > before.uidvalidity);
        assert!(!old.subscribed && old.special_use.is_none());
        assert_eq!((old.exists, old.unseen, old.uidnext), (2, 1, 3));
        let (_, moved) = f.mailbox(f.alice, "Old/Mail").await;
        // New UIDs, in the old UID order, with flags and INTERNALDATE kept.
        assert_eq!(moved.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(moved[0].flags, FLAG_SEEN);
        assert_eq!(moved[1].flags, 0);
        assert!(moved.iter().all(|m| m.internal_date == 1_700_000_000));
        let body = FetchBody {
            account_id: f.alice,
            mailbox_id: old.id,
            uid: 2,
        };
        assert_eq!(&*f.ask(body).await.expect("body"), &*message(2));

        let after = f.info("INBOX").await;
        assert_eq!(
            (after.id, after.uidvalidity),
            (before.id, before.uidvalidity)
        );
        assert_eq!((after.exists, after.size, after.uidnext), (0, 0, 4));
        assert!(
            f.names().await.contains(&"INBOX/Child".to_string()),
            "inferiors stay"
        );
        assert!(
            f.names().await.contains(&"Old".to_string()),
            "superior created"
        );
        assert_eq!(f.used_by(f.alice).await, used, "a move costs no quota");
        assert_eq!(f.refcounts().await, blobs);

        // Sessions with INBOX selected learn of the moves as expunges.
        let since = f
            .changes(inbox.id, before.highestmodseq)
            .await
            .expect("changes");
        assert_eq!(since.expunged, [2, 3]);
        assert!(since.changed.is_empty());
        let kinds: Vec<(i64, MailboxChange)> =
            events.iter().map(|e| (e.mailbox_id, e.change)).collect();
        assert!(kinds.contains(&(old.id, MailboxChange::Mailbox)));
        assert!(kinds.contains(&(inbox.id, MailboxChange::Expunged)));
        assert!(kinds.contains(&(f.info("Old").await.id, MailboxChange::Mailbox)));

        // An empty INBOX renames too, into an empty mailbox.
        f.rename("INBOX", "Empty").await.expect("rename empty");
        assert_eq!(f.info("Empty").await.exists, 0);
    })
    .await;
}

#[actix_rt::test]
async fn subscription_flag_is_visible_in_list() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.create(f.alice, "News").await.expect("create");
        assert!(!f.info("News").await.subscribed);
        let on = f.subscribe("News", true).await.expect("subscribe");
        assert_eq!(on.len(), 1);
        assert_eq!(
            (on[0].mailbox_id, on[0].change),
            (f.info("News").await.id, MailboxChange::Mailbox)
        );
        assert!(f.info("News").await.subscribed);
        assert!(
            f.subscribe("News", true).await.expect("again").is_empty(),
            "no change, no event"
        );
        f.subscribe("inbox", false)
            .await
            .expect("unsubscribe INBOX");
        assert!(!f.info("INBOX").await.subscribed);
        f.subscribe("News", false).await.expect("unsubscribe");
        assert!(!f.info("News").await.subscribed);
        // RFC 9051 §6.3.7 allows refusing a name that does not exist.
        for name in ["Nope", "news", ""] {
            let r = f.subscribe(name, true).await;
            assert!(matches!(r, Err(StoreError::NotFound(_))), "{name}: {r:?}");
        }
        let bobs = f.list(f.bob).await;
        assert!(
            bobs.iter()
                .find(|b| b.name == "INBOX")
                .expect("INBOX")
                .subscribed,
            "bob untouched"
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_subscription_outlives_its_mailbox() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.create(f.alice, "Old/News").await.expect("create");
        f.subscribe("Old/News", true).await.expect("subscribe");
        // RFC 9051 §6.3.7: deleting the mailbox does not remove the name from the subscriptions.
        f.delete(f.alice, "Old/News").await.expect("delete");
        assert_eq!(f.lost(f.alice).await, names(&["Old/News"]));
        assert!(f.lost(f.bob).await.is_empty(), "bob untouched");
        // A mailbox created under the name takes the subscription back, also as a superior
        // that CREATE makes on the way.
        f.create(f.alice, "Old/News/2024").await.expect("create");
        assert!(f.info("Old/News").await.subscribed);
        assert!(!f.info("Old/News/2024").await.subscribed);
        assert!(f.lost(f.alice).await.is_empty());
        // RENAME onto a lost name does too; the subscription of the renamed mailbox moves
        // with it, so "Tmp" leaves no lost name behind.
        f.subscribe("Old/News", true).await.expect("again");
        f.delete(f.alice, "Old/News").await.expect("delete");
        f.create(f.alice, "Tmp").await.expect("create");
        f.subscribe("Tmp", true).await.expect("subscribe");
        f.rename("Tmp", "Old/News").await.expect("rename");
        assert!(f.info("Old/News").await.subscribed);
        assert!(f.lost(f.alice).await.is_empty());
        // UNSUBSCRIBE removes a lost name (RFC 9051 §6.3.8); SUBSCRIBE still wants a mailbox.
        f.delete(f.alice, "Old/News").await.expect("delete");
        assert_eq!(f.lost(f.alice).await, names(&["Old/News"]));
        assert!(matches!(
            f.subscribe("Old/News", true).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            f.subscribe("Old/News", false)
                .await
                .expect("unsubscribe")
                .is_empty()
        );
        assert!(f.lost(f.alice).await.is_empty());
        assert!(matches!(
            f.subscribe("Old/News", false).await,
            Err(StoreError::NotFound(_))
        ));
        // An unsubscribed mailbox leaves nothing when deleted.
        f.create(f.alice, "Plain").await.expect("create");
        f.delete(f.alice, "Plain").await.expect("delete");
        assert!(f.lost(f.alice).await.is_empty());
    })
    .await;
}

#[actix_rt::test]
async fn deleted_and_size_counters() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        for n in 0..4 {
            f.deliver(&[f.alice], message(n)).await.expect("deliver");
        }
        let size = |ns: &[usize]| ns.iter().map(|&n| message(n).len() as u64).sum::<u64>();
        let inbox = f.info("INBOX").await;
        assert_eq!(
            (inbox.exists, inbox.deleted, inbox.size),
            (4, 0, size(&[0, 1, 2, 3]))
        );
        f.mark(inbox.id, &[1, 3], FLAG_DELETED).await;
        f.mark(inbox.id, &[3], FLAG_SEEN).await;
        let listed = f.info("INBOX").await;
        let (selected, _) = f.mailbox(f.alice, "INBOX").await;
        for b in [&listed, &selected] {
            assert_eq!((b.exists, b.unseen, b.deleted), (4, 3, 2));
            assert_eq!(b.size, size(&[0, 1, 2, 3]));
        }
        f.expunge_all(inbox.id).await;
        let after = f.info("INBOX").await;
        assert_eq!(
            (after.exists, after.deleted, after.size),
            (2, 0, size(&[1, 3]))
        );
        let empty = f.info("Trash").await;
        assert_eq!((empty.deleted, empty.size), (0, 0));
    })
    .await;
}

#[actix_rt::test]
async fn changes_lists_exactly_what_happened_since() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        for n in 0..6 {
            f.deliver(&[f.alice], message(n)).await.expect("deliver");
        }
        f.append_to("Archive", message(10)).await;
        f.append_to("Archive", message(11)).await;
        let (inbox, archive, trash) = (
            f.info("INBOX").await,
            f.info("Archive").await,
            f.info("Trash").await,
        );
        let start = inbox.highestmodseq;

        // Two of each kind of change, into or out of INBOX.
        f.mark(inbox.id, &[1, 2], FLAG_FLAGGED).await; // STORE
        f.deliver(&[f.alice], message(6)).await.expect("deliver"); // 7
        f.deliver(&[f.alice], message(7)).await.expect("deliver"); // 8
        f.append_to("INBOX", message(8)).await; // 9
        f.append_to("INBOX", message(9)).await; // 10
        let copy = Copy {
            account_id: f.alice,
            from: archive.id,
            uids: vec![1, 2],
            to: inbox.id,
        };
        f.ask(copy).await.expect("copy"); // 11, 12
        f.mark(inbox.id, &[3, 4], FLAG_DELETED).await;
        assert_eq!(f.expunge_all(inbox.id).await, [3, 4]);
        let mv = Move {
            account_id: f.alice,
            from: inbox.id,
            uids: vec![5, 6],
            to: trash.id,
        };
        f.ask(mv).await.expect("move");

        let c = f.changes(inbox.id, start).await.expect("changes");
        assert_eq!(
            c.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
            [1, 2, 7, 8, 9, 10, 11, 12]
        );
        assert_eq!(c.expunged, [3, 4, 5, 6]);
        assert!(c.changed[..2].iter().all(|m| m.flags == FLAG_FLAGGED));
        assert!(c.changed.iter().all(|m| m.modseq > start));
        let now = f.info("INBOX").await;
        assert_eq!(c.mailbox, now);
        assert!(c.changed.iter().all(|m| m.modseq <= now.highestmodseq));

        // Since now: nothing. Since the very start: every message and every expunge.
        let none = f
            .changes(inbox.id, now.highestmodseq)
            .await
            .expect("changes");
        assert!(none.changed.is_empty() && none.expunged.is_empty());
        let all = f.changes(inbox.id, 0).await.expect("changes");
        assert_eq!(all.changed.len() as u32, now.exists);
        assert_eq!(all.expunged, [3, 4, 5, 6]);
        let beyond = f.changes(inbox.id, u64::MAX).await.expect("changes");
        assert!(beyond.changed.is_empty() && beyond.expunged.is_empty());

        // The MOVE target gained two, the COPY source is untouched.
        let t = f
            .changes(trash.id, trash.highestmodseq)
            .await
            .expect("changes");
        assert_eq!(t.changed.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2]);
        let a = f
            .changes(archive.id, archive.highestmodseq)
            .await
            .expect("changes");
        assert!(a.changed.is_empty() && a.expunged.is_empty());

        // Another account's mailbox is not found.
        let theirs = Changes {
            account_id: f.bob,
            mailbox_id: inbox.id,
            since_modseq: 0,
        };
        let r = f.ask(theirs).await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    })
    .await;
}

#[actix_rt::test]
async fn changes_between_two_steps_see_only_the_second() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.deliver(&[f.alice], message(1)).await.expect("deliver");
        let inbox = f.info("INBOX").await;
        f.mark(inbox.id, &[1], FLAG_SEEN).await;
        let middle = f.info("INBOX").await.highestmodseq;
        f.deliver(&[f.alice], message(2)).await.expect("deliver");
        let c = f.changes(inbox.id, middle).await.expect("changes");
        assert_eq!(c.changed.iter().map(|m| m.uid).collect::<Vec<_>>(), [2]);
        // A flag change that changes nothing takes no MODSEQ and so shows nowhere.
        f.mark(inbox.id, &[1], FLAG_SEEN).await;
        let c = f
            .changes(inbox.id, c.mailbox.highestmodseq)
            .await
            .expect("changes");
        assert!(c.changed.is_empty());
    })
    .await;
}

#[actix_rt::test]
async fn recent_is_claimed_once_and_counted_until_then() {
    each_engine(|h| async move {
        let f = Boxes::new(h).await;
        f.deliver(&[f.alice], message(1)).await.expect("deliver");
        f.deliver(&[f.alice], message(2)).await.expect("deliver");
        let inbox = f.info("INBOX").await;
        assert_eq!((inbox.recent_uid, inbox.recent), (0, 2));
        let claim = |account_id, up_to| ClaimRecent {
            account_id,
            mailbox_id: inbox.id,
            up_to,
        };
        // RFC 3501 §2.3.2: the first claim owns UIDs 1:2, a second claim owns nothing.
        f.heard.changes().await;
        let first = f.ask(claim(f.alice, 2)).await.expect("claim");
        assert_eq!(first, 0);
        assert!(
            f.heard.changes().await.is_empty(),
            "a claim changes nothing to announce"
        );
        let again = f.ask(claim(f.alice, 2)).await.expect("claim");
        assert_eq!(again, 2);
        let after = f.info("INBOX").await;
        assert_eq!((after.recent_uid, after.recent), (2, 0));
        assert_eq!(after.highestmodseq, inbox.highestmodseq);
        // A new message is recent again; a claim below the mark does not lower it.
        f.deliver(&[f.alice], message(3)).await.expect("deliver");
        assert_eq!(f.info("INBOX").await.recent, 1);
        let low = f.ask(claim(f.alice, 1)).await.expect("claim");
        assert_eq!(low, 2);
        assert_eq!(f.info("INBOX").await.recent_uid, 2);
        // Another account cannot claim alice's messages.
        let r = f.ask(claim(f.bob, 3)).await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        assert_eq!(f.info("INBOX").await.recent, 1);
    })
    .await;
}
