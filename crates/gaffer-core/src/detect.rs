//! Agent state detection from pane screens (the observation issue fills this in).
