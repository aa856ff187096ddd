//! gaffer-beads: the beads work source.
//!
//! Reads `.beads/issues.jsonl` tolerantly ([`reader`]), ranks it natively or through `bv`, and
//! changes it only through the real `br` CLI. [`source_for`] builds the source `[beads]` asks
//! for from what is installed.

pub mod br;
pub mod bv;
pub mod native;
pub mod process;
pub mod reader;

pub use br::BrSource;
pub use bv::BvSource;
pub use native::NativeSource;
pub use reader::{BeadsProject, LoadedIssues, ReadError, SkippedLine, find_root, parse_issues};

use gaffer_core::config::{BeadsConfig, WorkSourceKind};
use gaffer_core::work_source::{WorkSource, WorkSourceError};

/// A boxed work source.
pub type DynWorkSource = Box<dyn WorkSource + Send + Sync>;

/// The work source the `[beads]` config asks for. Changes go through `br` whenever it is on
/// PATH; `source` picks the triage: `auto` (bv when on PATH, else native), `native`, or `bv`
/// (unavailable when bv is missing). `timeout` applies to every bv and br call.
pub fn source_for(
    project: BeadsProject,
    config: &BeadsConfig,
) -> Result<DynWorkSource, WorkSourceError> {
    let bv = bv_for(&project, config)?;
    if let Some(program) = process::which("br") {
        let mut br = BrSource::with_program(project, program);
        br.timeout = config.timeout;
        br.bv = bv;
        return Ok(Box::new(br));
    }
    Ok(match bv {
        Some(bv) => Box::new(bv),
        None => Box::new(NativeSource::new(project)),
    })
}

/// The triage through `bv` that the `[beads]` config asks for: `None` for native triage
/// (`native`, or `auto` without bv on PATH); unavailable when `bv` is asked for and missing.
/// `timeout` applies to every call.
pub fn bv_for(
    project: &BeadsProject,
    config: &BeadsConfig,
) -> Result<Option<BvSource>, WorkSourceError> {
    let bv =
        match config.source {
            WorkSourceKind::Native => None,
            WorkSourceKind::Auto => BvSource::detect(project.clone()),
            WorkSourceKind::Bv => Some(BvSource::detect(project.clone()).ok_or_else(|| {
                WorkSourceError::Unavailable {
                    tool: "bv".into(),
                    message: "bv is not on PATH".into(),
                }
            })?),
        };
    Ok(bv.map(|mut bv| {
        bv.timeout = config.timeout;
        bv
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn config_picks_the_source() {
        let project = BeadsProject::at(std::env::temp_dir());
        let native = BeadsConfig {
            source: WorkSourceKind::Native,
            timeout: Duration::from_secs(5),
        };
        let src = source_for(project.clone(), &native).expect("native never fails");
        let expected = if process::which("br").is_some() {
            "br"
        } else {
            "native"
        };
        assert_eq!(src.name(), expected);
        let bv = BeadsConfig {
            source: WorkSourceKind::Bv,
            timeout: Duration::from_secs(5),
        };
        if process::which("bv").is_none() {
            assert!(matches!(
                source_for(project.clone(), &bv),
                Err(WorkSourceError::Unavailable { .. })
            ));
        }
        let auto = source_for(project, &BeadsConfig::default()).expect("auto never fails");
        assert!(["br", "bv", "native"].contains(&auto.name()));
    }
}
