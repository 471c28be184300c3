//! The pool of arbiters (one thread each) that sessions run on, picked round-robin so that
//! parsing and I/O use every core.

use actix_rt::{Arbiter, ArbiterHandle};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Round-robin over a fixed set of arbiters; cheap to clone.
#[derive(Clone)]
pub struct Arbiters {
    handles: Arc<Vec<ArbiterHandle>>,
    next: Arc<AtomicUsize>,
}

impl Arbiters {
    /// Start `count` arbiters (at least one). Must run inside an actix System.
    pub fn start(count: usize) -> Self {
        let handles = (0..count.max(1)).map(|_| Arbiter::new().handle()).collect();
        Self {
            handles: Arc::new(handles),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// One arbiter per available core.
    pub fn per_core() -> Self {
        Self::start(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// The next arbiter in turn.
    pub fn pick(&self) -> &ArbiterHandle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    /// Ask every arbiter to stop once its current work is done.
    pub fn stop_all(&self) {
        for handle in self.handles.iter() {
            handle.stop();
        }
    }
}
