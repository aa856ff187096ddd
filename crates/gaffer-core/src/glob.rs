//! Glob matching and pattern intersection for reservations (the Agent Mail issue fills this in).
