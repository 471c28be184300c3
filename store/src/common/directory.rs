//! Engine-neutral rules: directory.
