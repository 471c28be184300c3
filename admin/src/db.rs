//! The store's synchronous management API ([`mailroom_store::Admin`]) for async handlers: one
//! connection, used by one request at a time on actix-web's blocking pool, so that argon2
//! hashing and SQLite never run on the HTTP workers.

use mailroom_store::{Admin, StoreError};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Cheap to clone.
#[derive(Clone)]
pub(crate) struct AdminDb {
    admin: Arc<Mutex<Admin>>,
}

impl AdminDb {
    /// Open the store's database in `data_dir` (already migrated by the server).
    pub(crate) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            admin: Arc::new(Mutex::new(Admin::open(data_dir)?)),
        })
    }

    /// Run `f` on a blocking thread.
    pub(crate) async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Admin) -> Result<R, StoreError> + Send + 'static,
    {
        let admin = self.admin.clone();
        actix_web::web::block(move || {
            // A panic in another request leaves the connection usable: SQLite rolled back.
            let guard = admin.lock().unwrap_or_else(PoisonError::into_inner);
            f(&guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("admin task: {e}")))?
    }
}
