//! The `WorkSource` port: ready work, triage and claims (the work-source issue fills this in).
