//! Size limits on every input from outside, in one place. An input over its limit is refused
//! with an error that names the limit (or, for one line of many, skipped and reported), never
//! read into memory whole.

/// One line of a JSONL file (`.beads/issues.jsonl`): a longer line is skipped and reported.
pub const MAX_JSONL_LINE_BYTES: usize = 1 << 20;

/// A beads data file.
pub const MAX_ISSUES_FILE_BYTES: u64 = 256 << 20;

/// One pane's captured screen: only its last this many bytes are kept (the live bottom).
pub const MAX_SCREEN_BYTES: usize = 1 << 20;

/// The output of one tmux command (a batched capture of many panes included).
pub const MAX_TMUX_OUTPUT_BYTES: usize = 64 << 20;

/// One line from a tmux control-mode client; the rest of a longer line is dropped.
pub const MAX_CONTROL_LINE_BYTES: usize = 4 << 20;

/// One reply from the Agent Mail server.
pub const MAX_MCP_REPLY_BYTES: u64 = 32 << 20;

/// The output of a `br` or `bv` call.
pub const MAX_TOOL_OUTPUT_BYTES: usize = 64 << 20;

/// A test report given to `gaffer quality record-tests`.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// A configuration file (`config.toml`).
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 << 20;

/// Megabytes, for messages.
pub fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

/// The last `max` bytes of `s`, cut at a character boundary (and at a line start when one is
/// near), for a screen where the bottom is what matters.
pub fn keep_tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let tail = &s[start..];
    match tail.find('\n') {
        Some(i) if i < 4096 => &tail[i + 1..],
        _ => tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_cut_at_a_boundary() {
        assert_eq!(keep_tail("abc", 10), "abc");
        assert_eq!(keep_tail("line one\nline two\nend", 10), "end");
        let s = "é".repeat(10); // 20 bytes
        let t = keep_tail(&s, 5);
        assert!(t.len() <= 5 && t.chars().all(|c| c == 'é'), "{t:?}");
    }
}
