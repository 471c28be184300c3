//! Engine-neutral rules: queue.
