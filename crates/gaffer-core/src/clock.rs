//! The `Clock` port: the only source of "now" for the runtime, so tests can drive time.

use crate::time::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}
