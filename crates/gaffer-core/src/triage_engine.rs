//! Native triage: bv's scoring computed from the issue graph (the work-source issue fills this in).
