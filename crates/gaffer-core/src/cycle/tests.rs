//! Tests of the pure loop with plain values.
