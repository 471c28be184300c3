//! Engine-neutral rules: messages.
