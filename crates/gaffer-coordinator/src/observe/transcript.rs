//! Transcript readers: the last turn's input tokens from an agent's own transcript, read
//! incrementally (the offset is remembered; only what was appended is read) and bounded (a huge
//! or broken line is skipped with a log line).
//!
//! Formats (verified on the pinned CLIs, see `crates/gaffer/tests/real_transcripts.rs`):
//! * Claude Code JSONL: an `assistant` record's `message.usage`; the context is
//!   `input_tokens + cache_creation_input_tokens + cache_read_input_tokens`, the model
//!   `message.model`. A compaction writes a `system` record with subtype `compact_boundary`
//!   whose `compactMetadata.postTokens` is the context left (Claude Code's own figure until the
//!   next turn); without it the last figure is forgotten (the screen's counts).
//! * Codex rollout JSONL: an `event_msg` whose payload is `token_count`; the context is
//!   `info.last_token_usage.input_tokens` (cached tokens are part of it), the window
//!   `info.model_context_window` when given; the model from the latest `turn_context`.
//! * Gemini CLI chat JSONL (`chats/session-*.jsonl`): a `gemini` message's `tokens.input` (the
//!   prompt tokens, cached ones included), the model `model`.

use gaffer_core::Timestamp;
use gaffer_core::agent_files::{ContextWindows, percent_of};
use gaffer_core::signals::ContextReading;
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Longest line parsed; longer ones (a huge tool output) are skipped.
pub const MAX_LINE: usize = 1 << 20;
/// Most bytes read per call; the rest is read at the next call.
pub const MAX_READ: u64 = 8 << 20;
/// A transcript seen for the first time is read from this far before its end only.
pub const TAIL_START: u64 = 4 << 20;

/// Which CLI wrote a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptKind {
    /// Claude Code.
    Claude,
    /// Codex CLI.
    Codex,
    /// Gemini CLI.
    Gemini,
}

impl TranscriptKind {
    /// The kind of an agent type code (`cc`, `cod`, `gmi`).
    pub fn of_agent(agent: &str) -> Option<TranscriptKind> {
        match agent {
            "cc" => Some(TranscriptKind::Claude),
            "cod" => Some(TranscriptKind::Codex),
            "gmi" => Some(TranscriptKind::Gemini),
            _ => None,
        }
    }
}

/// What one line says about usage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineUsage {
    /// The turn's input tokens, when the line carries usage.
    pub tokens: Option<u64>,
    /// The model, when the line names it.
    pub model: Option<String>,
    /// The window, when the line states it (Codex).
    pub window: Option<u64>,
    /// The line marks a compaction that states no figure: the last one no longer holds.
    pub reset: bool,
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}

/// Reads one transcript line. `None` for a line that is not JSON.
pub fn parse_line(kind: TranscriptKind, line: &str) -> Option<LineUsage> {
    let v: Value = serde_json::from_str(line).ok()?;
    let mut out = LineUsage::default();
    match kind {
        TranscriptKind::Claude => {
            if v.get("type").and_then(Value::as_str) == Some("system")
                && v.get("subtype").and_then(Value::as_str) == Some("compact_boundary")
            {
                out.tokens = v
                    .get("compactMetadata")
                    .and_then(|m| m.get("postTokens"))
                    .and_then(Value::as_u64);
                out.reset = out.tokens.is_none();
            } else if v.get("type").and_then(Value::as_str) == Some("assistant")
                && let Some(msg) = v.get("message")
            {
                out.model = s(msg, "model").filter(|m| m != "<synthetic>");
                if let Some(usage) = msg.get("usage").filter(|_| out.model.is_some()) {
                    out.tokens = Some(
                        u(usage, "input_tokens")
                            + u(usage, "cache_creation_input_tokens")
                            + u(usage, "cache_read_input_tokens"),
                    );
                }
            }
        }
        TranscriptKind::Codex => {
            let payload = v.get("payload");
            match (v.get("type").and_then(Value::as_str), payload) {
                (Some("turn_context"), Some(p)) => out.model = s(p, "model"),
                (Some("event_msg"), Some(p))
                    if p.get("type").and_then(Value::as_str) == Some("token_count") =>
                {
                    if let Some(info) = p.get("info").filter(|i| !i.is_null()) {
                        if let Some(last) = info.get("last_token_usage") {
                            out.tokens = Some(u(last, "input_tokens"));
                        }
                        out.window = info.get("model_context_window").and_then(Value::as_u64);
                    }
                }
                _ => {}
            }
        }
        TranscriptKind::Gemini => {
            if v.get("type").and_then(Value::as_str) == Some("gemini") {
                out.model = s(&v, "model");
                if let Some(t) = v.get("tokens").filter(|t| t.is_object()) {
                    out.tokens = Some(u(t, "input"));
                }
            }
        }
    }
    Some(out)
}

/// One transcript, read incrementally.
#[derive(Debug)]
pub struct TranscriptTail {
    path: PathBuf,
    kind: TranscriptKind,
    offset: u64,
    /// The file's identity (inode) when last read: a rewritten file is read again.
    ino: u64,
    partial: Vec<u8>,
    skipping: bool,
    tokens: Option<u64>,
    model: Option<String>,
    window: Option<u64>,
    /// When the line with the latest usage was read (the file's mtime then).
    at: Option<Timestamp>,
    /// Lines skipped as too long or not JSON.
    pub skipped: u64,
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

impl TranscriptTail {
    /// A reader of `path` that has read nothing yet.
    pub fn new(path: impl Into<PathBuf>, kind: TranscriptKind) -> Self {
        TranscriptTail {
            path: path.into(),
            kind,
            offset: 0,
            ino: 0,
            partial: Vec::new(),
            skipping: false,
            tokens: None,
            model: None,
            window: None,
            at: None,
            skipped: 0,
        }
    }

    /// The path read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How far the file has been read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads what was appended since the last call (at most [`MAX_READ`] bytes).
    pub fn poll(&mut self) -> std::io::Result<()> {
        let mut f = File::open(&self.path)?;
        let meta = f.metadata()?;
        let len = meta.len();
        let ino = inode(&meta);
        if ino != self.ino || len < self.offset {
            // new or rewritten: start again, from the tail of a big file
            self.ino = ino;
            self.partial.clear();
            self.tokens = None;
            self.model = None;
            self.window = None;
            self.at = None;
            self.offset = len.saturating_sub(TAIL_START);
            // a start in the middle of a line skips to the next one
            self.skipping = self.offset > 0;
        }
        if len == self.offset {
            return Ok(());
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.take(MAX_READ).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        let mtime = meta.modified().ok().map(Timestamp::from);
        let mut rest: &[u8] = &buf;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(nl);
            rest = &tail[1..];
            if self.skipping {
                self.skipping = false;
                self.partial.clear();
                continue;
            }
            if self.partial.is_empty() {
                self.line(head, mtime);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.line(&line, mtime);
            }
        }
        if !self.skipping {
            if self.partial.len() + rest.len() > MAX_LINE {
                tracing::warn!(
                    path = %self.path.display(),
                    "transcript line longer than {MAX_LINE} bytes skipped"
                );
                self.skipped += 1;
                self.partial.clear();
                self.skipping = true;
            } else {
                self.partial.extend_from_slice(rest);
            }
        }
        Ok(())
    }

    fn line(&mut self, bytes: &[u8], mtime: Option<Timestamp>) {
        if bytes.len() > MAX_LINE {
            tracing::warn!(path = %self.path.display(), len = bytes.len(), "transcript line too long, skipped");
            self.skipped += 1;
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let Some(usage) = parse_line(self.kind, text) else {
            tracing::debug!(path = %self.path.display(), "transcript line is not JSON, skipped");
            self.skipped += 1;
            return;
        };
        if let Some(m) = usage.model {
            self.model = Some(m);
        }
        if let Some(w) = usage.window {
            self.window = Some(w);
        }
        if let Some(t) = usage.tokens {
            self.tokens = Some(t);
            self.at = mtime;
        } else if usage.reset {
            self.tokens = None;
            self.at = mtime;
        }
    }

    /// The context reading of the last turn read, with the window from the line (Codex) or
    /// the table.
    pub fn reading(&self, windows: &ContextWindows) -> Option<ContextReading> {
        self.reading_with(windows, None)
    }

    /// The reading with the window the agent's process was told (e.g. Claude Code's
    /// `CLAUDE_CODE_AUTO_COMPACT_WINDOW`), which comes before the table. A window the file
    /// names comes first. More tokens than the window means the window is not the one in
    /// use (a model with a larger window): no figure then, so the screen's counts.
    pub fn reading_with(
        &self,
        windows: &ContextWindows,
        process_window: Option<u64>,
    ) -> Option<ContextReading> {
        let tokens = self.tokens?;
        let window = self
            .window
            .or(process_window)
            .or_else(|| self.model.as_deref().and_then(|m| windows.window_for(m)))?;
        if tokens > window {
            tracing::debug!(
                tokens,
                window,
                model = self.model.as_deref().unwrap_or(""),
                "more tokens than the window: the model's window is larger than the table says"
            );
            return None;
        }
        Some(ContextReading {
            percent: percent_of(tokens, window),
            tokens,
            window,
            model: self.model.clone(),
            at: self.at.unwrap_or_else(chrono::Utc::now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn claude_line(model: &str, input: u64, create: u64, read: u64) -> String {
        serde_json::json!({
            "type": "assistant",
            "message": {"model": model, "role": "assistant",
                "usage": {"input_tokens": input, "cache_creation_input_tokens": create,
                          "cache_read_input_tokens": read, "output_tokens": 7}}
        })
        .to_string()
    }

    #[test]
    fn each_format_gives_the_last_turns_input() {
        let u = parse_line(
            TranscriptKind::Claude,
            &claude_line("claude-sonnet-4-5", 10, 200, 3000),
        )
        .unwrap_or_default();
        assert_eq!(u.tokens, Some(3210));
        assert_eq!(u.model.as_deref(), Some("claude-sonnet-4-5"));
        // a user record carries no usage
        let u = parse_line(TranscriptKind::Claude, r#"{"type":"user","message":{}}"#);
        assert_eq!(u, Some(LineUsage::default()));
        let tc = r#"{"timestamp":"x","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":900},"last_token_usage":{"input_tokens":500,"cached_input_tokens":400,"output_tokens":3},"model_context_window":272000}}}"#;
        let u = parse_line(TranscriptKind::Codex, tc).unwrap_or_default();
        assert_eq!((u.tokens, u.window), (Some(500), Some(272_000)));
        let u = parse_line(
            TranscriptKind::Codex,
            r#"{"type":"event_msg","payload":{"type":"token_count","info":null}}"#,
        )
        .unwrap_or_default();
        assert_eq!(u.tokens, None);
        let ctx = r#"{"type":"turn_context","payload":{"model":"gpt-5-codex","cwd":"/p"}}"#;
        let u = parse_line(TranscriptKind::Codex, ctx).unwrap_or_default();
        assert_eq!(u.model.as_deref(), Some("gpt-5-codex"));
        let g = r#"{"id":"1","type":"gemini","content":"hi","model":"gemini-2.5-pro","tokens":{"input":4242,"output":5,"cached":4000,"thoughts":0,"tool":0,"total":4247}}"#;
        let u = parse_line(TranscriptKind::Gemini, g).unwrap_or_default();
        assert_eq!(
            (u.tokens, u.model.as_deref()),
            (Some(4242), Some("gemini-2.5-pro"))
        );
        assert_eq!(parse_line(TranscriptKind::Gemini, "{not json"), None);
    }

    #[test]
    fn a_claude_compact_boundary_gives_the_context_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut f = File::create(&path).unwrap();
        writeln!(f, "{}", claude_line("claude-opus-4", 190_000, 0, 0)).unwrap();
        let mut t = TranscriptTail::new(&path, TranscriptKind::Claude);
        let w = ContextWindows::builtin();
        t.poll().unwrap();
        assert_eq!(t.reading(&w).map(|r| r.tokens), Some(190_000));
        // The boundary Claude Code writes when it compacts (trimmed): the figure it states.
        let boundary = serde_json::json!({
            "type": "system", "subtype": "compact_boundary", "content": "Conversation compacted",
            "compactMetadata": {"trigger": "manual", "preTokens": 190_000, "postTokens": 4_321}
        });
        writeln!(f, "{boundary}").unwrap();
        t.poll().unwrap();
        let r = t.reading(&w).unwrap();
        assert_eq!((r.tokens, r.window), (4_321, 200_000));
        // The next turn's usage counts again.
        writeln!(f, "{}", claude_line("claude-opus-4", 9_000, 0, 0)).unwrap();
        t.poll().unwrap();
        assert_eq!(t.reading(&w).map(|r| r.tokens), Some(9_000));
        // A boundary without a figure: the last one no longer holds (the screen's counts).
        let bare = r#"{"type":"system","subtype":"compact_boundary","compactMetadata":{"trigger":"auto","preTokens":9000}}"#;
        writeln!(f, "{bare}").unwrap();
        t.poll().unwrap();
        assert_eq!(t.reading(&w), None);
        // Another system record changes nothing.
        let u = parse_line(
            TranscriptKind::Claude,
            r#"{"type":"system","subtype":"informational","content":"x"}"#,
        );
        assert_eq!(u, Some(LineUsage::default()));
    }

    #[test]
    fn reads_incrementally_and_skips_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut f = File::create(&path).unwrap();
        writeln!(f, "{}", claude_line("claude-opus-4", 1000, 0, 0)).unwrap();
        writeln!(f, "{{broken").unwrap();
        let mut t = TranscriptTail::new(&path, TranscriptKind::Claude);
        t.poll().unwrap();
        let w = ContextWindows::builtin();
        let r = t.reading(&w).unwrap();
        assert_eq!((r.tokens, r.window), (1000, 200_000));
        assert_eq!(r.percent, 0.5);
        assert_eq!(t.skipped, 1);
        let read = t.offset();
        // half a line: not read as a line until its end arrives
        let line = claude_line("claude-opus-4", 50_000, 0, 0);
        write!(f, "{}", &line[..20]).unwrap();
        t.poll().unwrap();
        assert_eq!(t.reading(&w).unwrap().tokens, 1000);
        writeln!(f, "{}", &line[20..]).unwrap();
        t.poll().unwrap();
        assert!(t.offset() > read);
        assert_eq!(t.reading(&w).unwrap().tokens, 50_000);
        assert_eq!(t.reading(&w).unwrap().percent, 25.0);
        // a huge line is skipped, the next one read
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_LINE + 10));
        writeln!(f, "{huge}").unwrap();
        writeln!(f, "{}", claude_line("claude-opus-4", 60_000, 0, 0)).unwrap();
        t.poll().unwrap();
        t.poll().unwrap();
        assert_eq!(t.reading(&w).unwrap().tokens, 60_000);
        assert_eq!(t.skipped, 2);
        // the process's own window comes before the table
        let r = t.reading_with(&w, Some(120_000)).unwrap();
        assert_eq!((r.tokens, r.window), (60_000, 120_000));
        // more tokens than the window: the table is wrong for this model, no figure
        writeln!(f, "{}", claude_line("claude-opus-4", 950_000, 0, 0)).unwrap();
        t.poll().unwrap();
        assert_eq!(t.reading(&w), None);
        assert_eq!(
            t.reading_with(&w, Some(1_000_000)).map(|r| r.percent),
            Some(95.0)
        );
        // an unknown model has no window
        writeln!(f, "{}", claude_line("mystery-1", 10, 0, 0)).unwrap();
        t.poll().unwrap();
        assert_eq!(t.reading(&w), None);
        assert!(
            t.reading(&w.with([("mystery-*".to_string(), 100)]))
                .is_some()
        );
    }

    #[test]
    fn a_rewritten_file_is_read_again_and_a_big_one_from_its_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut body = String::new();
        let pad = format!("{{\"pad\":\"{}\"}}\n", "y".repeat(1000));
        while body.len() < (TAIL_START as usize) * 2 {
            body.push_str(&pad);
        }
        body.push_str(&claude_line("claude-x", 777, 0, 0));
        body.push('\n');
        std::fs::write(&path, &body).unwrap();
        let mut t = TranscriptTail::new(&path, TranscriptKind::Claude);
        t.poll().unwrap();
        assert_eq!(t.reading(&ContextWindows::builtin()).unwrap().tokens, 777);
        assert_eq!(
            t.skipped, 0,
            "the cut first line is dropped, not counted as broken"
        );
        // replaced by a shorter file (a rewrite): read from the start
        let tmp = dir.path().join("t2.jsonl");
        std::fs::write(&tmp, format!("{}\n", claude_line("claude-x", 5, 0, 0))).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        t.poll().unwrap();
        assert_eq!(t.reading(&ContextWindows::builtin()).unwrap().tokens, 5);
        // a missing file is an error the caller reports
        std::fs::remove_file(&path).unwrap();
        assert!(t.poll().is_err());
    }
}
