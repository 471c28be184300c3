//! Engine-neutral rules: policy.
