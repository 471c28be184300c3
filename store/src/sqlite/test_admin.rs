//! Tests only: the directory's writes and reads ([`super::directory`]) on a plain connection,
//! each write in its own transaction, for the engine's own tests to set up accounts without
//! an actor. The server never uses it: its directory writes go through the writer.

use std::path::Path;

use mailroom_shared::Secret;
use mailroom_shared::password::hash_password;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::blobs::BlobStore;
use super::directory::{self, DirectoryDone, DirectoryOp};
use super::writer::BatchEffects;
use super::{DB_FILE, dkim, open_write_connection, schema};
use crate::dkim::DkimKey;
use crate::error::StoreError;
use crate::types::{Account, Alias, Domain, Role};

pub(crate) struct Admin {
    pub(crate) conn: Connection,
    blobs: BlobStore,
}

impl Admin {
    pub(crate) fn open(data_dir: &Path) -> Result<Admin, StoreError> {
        super::secure_data_dir(data_dir)?;
        let mut conn = open_write_connection(&data_dir.join(DB_FILE))?;
        schema::migrations::migrate(&mut conn)?;
        dkim::backfill(&mut conn)?;
        Ok(Admin {
            conn,
            blobs: BlobStore::at(data_dir),
        })
    }

    fn apply(&self, op: DirectoryOp) -> Result<DirectoryDone, StoreError> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let mut fx = BatchEffects::default();
        let done = directory::apply(&tx, &mut fx, &op)?;
        tx.commit()?;
        Ok(done)
    }

    fn hash(password: &Secret) -> Result<String, StoreError> {
        hash_password(password).map_err(|e| StoreError::Invalid(e.to_string()))
    }

    pub(crate) fn domain_add(&self, name: &str) -> Result<Domain, StoreError> {
        crate::common::directory::domain_name(name)?;
        let keys = crate::common::directory::generate_keys(super::unix_now())?;
        match self.apply(DirectoryOp::AddDomain {
            name: name.into(),
            keys,
        })? {
            DirectoryDone::Domain(d) => Ok(d),
            _ => unreachable!("a domain"),
        }
    }

    pub(crate) fn domain_dkim(&self, name: &str) -> Result<Vec<DkimKey>, StoreError> {
        directory::domain_dkim(&self.conn, name)
    }

    pub(crate) fn domain_remove(&self, name: &str) -> Result<(), StoreError> {
        self.apply(DirectoryOp::RemoveDomain { name: name.into() })
            .map(drop)
    }

    pub(crate) fn user_add(
        &self,
        address: &str,
        password: &Secret,
        role: Role,
        quota: Option<u64>,
    ) -> Result<Account, StoreError> {
        let password_hash = Self::hash(password)?;
        match self.apply(DirectoryOp::AddAccount {
            address: address.into(),
            password_hash,
            role,
            quota,
        })? {
            DirectoryDone::Account(a) => Ok(a),
            _ => unreachable!("an account"),
        }
    }

    pub(crate) fn alias_add(&self, source: &str, targets: &[String]) -> Result<Alias, StoreError> {
        match self.apply(DirectoryOp::AddAlias {
            source: source.into(),
            targets: targets.to_vec(),
        })? {
            DirectoryDone::Alias(a) => Ok(a),
            _ => unreachable!("an alias"),
        }
    }

    pub(crate) fn verify(&self) -> Result<Vec<String>, StoreError> {
        directory::verify(&self.conn, &self.blobs)
    }
}
