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

use gaffer_core::config::{BeadsConfig, WorkSourceKind};
use gaffer_core::work_source::{WorkSource, WorkSourceError};

/// A boxed work source.
pub type DynWorkSource = Box<dyn WorkSource + Send + Sync>;

/// The best work source for `project`: `br` when it is on PATH (triage from `bv` if present,
/// else native), else `bv` for triage, else native (read-only).
pub fn auto_source(project: BeadsProject) -> DynWorkSource {
    match source_for(project.clone(), &BeadsConfig::default()) {
        Ok(source) => source,
        // `auto` does not fail; native is the safe answer regardless.
        Err(_) => Box::new(NativeSource::new(project)),
    }
}

/// The work source the `[beads]` config asks for. Changes go through `br` whenever it is on
/// PATH; `source` picks the triage: `auto` (bv when on PATH, else native), `native`, or `bv`
/// (unavailable when bv is missing). `timeout` applies to every bv and br call.
pub fn source_for(
    project: BeadsProject,
    config: &BeadsConfig,
) -> Result<DynWorkSource, WorkSourceError> {
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
        }
        .map(|mut bv| {
            bv.timeout = config.timeout;
            bv
        });
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
        assert!(["br", "bv", "native"].contains(&auto_source(project).name()));
    }
}
