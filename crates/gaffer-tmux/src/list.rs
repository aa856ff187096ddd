//! One `list-panes -a` call for the metadata of every pane, and its parsing.
//!
//! Records and fields are separated by markers that carry a per-call random token, and the
//! title (the only field a program in the pane can set freely) comes last, so a title holding
//! separators, tabs or newlines cannot shift the other fields or forge a record.

use gaffer_core::pane::{identify_pane, parse_title};
use gaffer_core::panes::PaneInfo;

const FIELDS: &[&str] = &[
    "session_name",
    "window_index",
    "pane_index",
    "pane_id",
    "pane_pid",
    "pane_current_command",
    "pane_width",
    "pane_height",
    "pane_active",
    "pane_dead",
    "history_size",
    "cursor_x",
    "cursor_y",
    "window_activity",
    "@gaffer_title",
    "pane_title",
];

/// A pane to pin: `(pane id, title)`.
pub type Pin = (String, String);

/// Record and field markers of one listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFormat {
    record: String,
    field: String,
}

impl ListFormat {
    /// Markers built from `token` (use [`crate::cmd::unique_token`]).
    pub fn new(token: &str) -> Self {
        ListFormat {
            record: format!("\u{1e}GR{token}\u{1e}"),
            field: format!("\u{1f}GF{token}\u{1f}"),
        }
    }

    /// The `-F` format string.
    pub fn format(&self) -> String {
        let body = FIELDS
            .iter()
            .map(|f| format!("#{{{f}}}"))
            .collect::<Vec<_>>()
            .join(&self.field);
        format!("{}{body}", self.record)
    }

    /// The argv for every pane of every session (`-a`), or of one session (`-s -t =S`).
    pub fn args(&self, session: Option<&str>) -> Vec<String> {
        let mut v = vec!["list-panes".to_string()];
        match session {
            Some(s) => {
                v.push("-s".into());
                v.push("-t".into());
                v.push(crate::cmd::exact_session(s));
            }
            None => v.push("-a".into()),
        }
        v.push("-F".into());
        v.push(self.format());
        v
    }

    /// Parses the output. Malformed records are errors (never silently skipped).
    pub fn parse(&self, out: &str) -> Result<Vec<PaneInfo>, String> {
        self.parse_with_pins(out).map(|(panes, _)| panes)
    }

    /// Parses the output, and also returns the panes identified as agents by their tmux title
    /// alone (no `@gaffer_title` yet), as `(pane id, title)`: their identity should be pinned
    /// in `@gaffer_title` before the agent rewrites the title.
    pub fn parse_with_pins(&self, out: &str) -> Result<(Vec<PaneInfo>, Vec<Pin>), String> {
        let mut panes = Vec::new();
        let mut pins = Vec::new();
        let mut chunks = out.split(self.record.as_str());
        // Anything before the first record marker must be blank.
        if let Some(pre) = chunks.next() {
            if !pre.trim().is_empty() {
                return Err(format!(
                    "unexpected list-panes output before first record: {pre:?}"
                ));
            }
        }
        for rec in chunks {
            // tmux ends each record with one newline.
            let rec = rec.strip_suffix('\n').unwrap_or(rec);
            let f: Vec<&str> = rec.splitn(FIELDS.len(), self.field.as_str()).collect();
            if f.len() != FIELDS.len() {
                return Err(format!(
                    "list-panes record has {} fields, want {}: {rec:?}",
                    f.len(),
                    FIELDS.len()
                ));
            }
            let int = |i: usize| -> Result<i64, String> {
                f[i].trim().parse::<i64>().map_err(|_| {
                    format!("list-panes field {} is not a number: {:?}", FIELDS[i], f[i])
                })
            };
            let info = PaneInfo {
                session: f[0].to_string(),
                window_index: int(1)?,
                pane_index: int(2)?,
                pane_id: f[3].to_string(),
                pid: int(4)?.max(0) as u32,
                current_command: f[5].to_string(),
                width: int(6)?.max(0) as u32,
                height: int(7)?.max(0) as u32,
                active: f[8] == "1",
                dead: f[9] == "1",
                history_size: int(10)?.max(0) as u64,
                cursor_x: int(11)?.max(0) as u32,
                cursor_y: int(12)?.max(0) as u32,
                window_activity: int(13)?,
                // The title gaffer gave the pane (a pane option no program in it can change)
                // wins over tmux's pane title, which OSC 0/2 can rewrite on tmux < 3.4.
                title: if f[14].is_empty() {
                    f[15].to_string()
                } else {
                    f[14].to_string()
                },
                ..PaneInfo::default()
            };
            if !info.pane_id.starts_with('%') {
                return Err(format!(
                    "list-panes pane id {:?} is not a pane id",
                    info.pane_id
                ));
            }
            let id = identify_pane(&info.title, &info.current_command);
            if f[14].is_empty() && !parse_title(&info.title).is_user() {
                pins.push((info.pane_id.clone(), info.title.clone()));
            }
            panes.push(info.with_identity(id));
        }
        Ok((panes, pins))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fmt: &ListFormat, fields: &[&str]) -> String {
        format!("{}{}\n", fmt.record, fields.join(&fmt.field))
    }

    fn base(title: &str) -> Vec<String> {
        [
            "proj",
            "0",
            "1",
            "%3",
            "4242",
            "claude",
            "120",
            "40",
            "1",
            "0",
            "17",
            "2",
            "39",
            "1795925076",
            "",
            title,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn format_has_every_field_and_title_last() {
        let f = ListFormat::new("t");
        let s = f.format();
        assert!(s.ends_with("#{pane_title}"));
        for name in FIELDS {
            assert!(s.contains(&format!("#{{{name}}}")));
        }
        assert_eq!(f.args(None)[1], "-a");
        assert_eq!(f.args(Some("p"))[3], "=p:");
    }

    #[test]
    fn parses_records() {
        let f = ListFormat::new("abc");
        let a = base("proj__cc_1_opus[x]");
        let mut b = base("host.local");
        b[3] = "%4".into();
        b[5] = "codex".into();
        b[8] = "0".into();
        b[9] = "1".into();
        let out = record(&f, &a.iter().map(String::as_str).collect::<Vec<_>>())
            + &record(&f, &b.iter().map(String::as_str).collect::<Vec<_>>());
        let panes = f.parse(&out).unwrap();
        assert_eq!(panes.len(), 2);
        let p = &panes[0];
        assert_eq!(p.session, "proj");
        assert_eq!(p.pane_id, "%3");
        assert_eq!(p.pid, 4242);
        assert_eq!((p.width, p.height), (120, 40));
        assert!(p.active && !p.dead);
        assert_eq!(p.history_size, 17);
        assert_eq!((p.cursor_x, p.cursor_y), (2, 39));
        assert_eq!(p.window_activity, 1_795_925_076);
        assert_eq!(p.agent_type, "cc");
        assert_eq!(p.variant.as_deref(), Some("opus"));
        assert_eq!(p.tags, vec!["x".to_string()]);
        // Title says user: the command fallback applies.
        assert_eq!(panes[1].agent_type, "cod");
        assert!(panes[1].dead && !panes[1].active);
    }

    #[test]
    fn hostile_titles_stay_in_their_field() {
        let f = ListFormat::new("tok");
        let hostile = [
            "a\nb\nc",
            "_NTM_SEP_x_NTM_SEP_y",
            "tab\there|pipe;semi",
            "\u{1e}GRother\u{1e}fake",
            "\u{1f}GFother\u{1f}0",
            "proj__cc_1\n%9",
            "",
            "ünïcødé ✳ Testing",
        ];
        for t in hostile {
            let fields = base(t);
            let out = record(&f, &fields.iter().map(String::as_str).collect::<Vec<_>>())
                + &record(
                    &f,
                    &base("second")
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                );
            let panes = f.parse(&out).unwrap_or_else(|e| panic!("{t:?}: {e}"));
            assert_eq!(panes.len(), 2, "{t:?}");
            assert_eq!(panes[0].title, t);
            assert_eq!(panes[0].pane_id, "%3");
            assert_eq!(panes[1].title, "second");
        }
    }

    #[test]
    fn gaffer_title_option_wins() {
        let f = ListFormat::new("tok");
        let mut fields = base("✳ Testing");
        fields[14] = "p__cod_3".into();
        let out = record(&f, &fields.iter().map(String::as_str).collect::<Vec<_>>());
        let p = &f.parse(&out).unwrap()[0];
        assert_eq!(p.title, "p__cod_3");
        assert_eq!(p.agent_type, "cod");
    }

    #[test]
    fn panes_identified_by_title_alone_are_to_be_pinned() {
        let f = ListFormat::new("tok");
        let pinned = {
            let mut v = base("p__cc_1");
            v[14] = "p__cc_1".into();
            v
        };
        let out = [base("p__cc_2"), pinned, base("zsh")]
            .iter()
            .map(|v| record(&f, &v.iter().map(String::as_str).collect::<Vec<_>>()))
            .collect::<String>();
        let (panes, pins) = f.parse_with_pins(&out).unwrap();
        assert_eq!(panes.len(), 3);
        // only the agent known by its tmux title alone; not the pinned one, not a plain shell
        assert_eq!(pins, vec![("%3".to_string(), "p__cc_2".to_string())]);
    }

    #[test]
    fn title_with_trailing_newline_keeps_it() {
        let f = ListFormat::new("tok");
        let fields = base("t\n");
        let out = record(&f, &fields.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(f.parse(&out).unwrap()[0].title, "t\n");
    }

    #[test]
    fn malformed_records_are_errors() {
        let f = ListFormat::new("tok");
        assert!(f.parse("garbage\n").is_err());
        let mut fields = base("t");
        fields[1] = "x".into();
        let out = record(&f, &fields.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(f.parse(&out).unwrap_err().contains("window_index"));
        let short = format!("{}proj{}0\n", f.record, f.field);
        assert!(f.parse(&short).is_err());
        assert!(f.parse("").unwrap().is_empty());
    }
}
