//! gaffer-beads: the beads work source.
//!
//! Reads `.beads/issues.jsonl` tolerantly ([`reader`]), ranks it natively or through `bv`, and
//! changes it only through the real `br` CLI. [`auto_source`] picks what is installed.

pub mod br;
pub mod bv;
pub mod native;
pub mod process;
pub mod reader;

pub use br::BrSource;
pub use bv::BvSource;
pub use native::NativeSource;
pub use reader::{BeadsProject, LoadedIssues, ReadError, SkippedLine, find_root, parse_issues};

use gaffer_core::work_source::WorkSource;

/// The best work source for `project`: `br` when it is on PATH (triage from `bv` if present,
/// else native), else `bv` for triage, else native (read-only).
pub fn auto_source(project: BeadsProject) -> Box<dyn WorkSource + Send + Sync> {
    if let Some(br) = BrSource::detect(project.clone()) {
        return Box::new(br);
    }
    if let Some(bv) = BvSource::detect(project.clone()) {
        return Box::new(bv);
    }
    Box::new(NativeSource::new(project))
}
