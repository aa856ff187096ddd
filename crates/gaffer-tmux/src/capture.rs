//! Batched capture: the screens of many panes in ONE tmux invocation.
//!
//! The argv is a tmux command list: for each pane a `display-message -p <marker>` followed by
//! `capture-pane -p -t <pane> -S -<lines>`, joined with `;` arguments, and a final end marker.
//! Markers carry a per-call random token, so a screen cannot forge them. When a pane vanishes
//! between listing and capture, tmux stops the list at that pane; the panes before it are kept
//! and the rest are captured again in another batch.

/// A pane's captured screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Pane id.
    pub pane_id: String,
    /// Screen text, trailing blank rows removed.
    pub screen: String,
}

/// The markers of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    begin: String,
    end: String,
    lines: u32,
}

impl Batch {
    /// A batch with markers from `token` capturing `lines` lines of history plus the visible rows.
    pub fn new(token: &str, lines: u32) -> Self {
        Batch {
            begin: format!("\u{1e}GC{token}:"),
            end: format!("\u{1e}GE{token}"),
            lines,
        }
    }

    /// `capture-pane` arguments for one pane.
    pub fn capture_args(&self, pane: &str) -> Vec<String> {
        vec![
            "capture-pane".into(),
            "-p".into(),
            "-t".into(),
            pane.into(),
            "-S".into(),
            format!("-{}", self.lines),
        ]
    }

    /// The argv (after the socket arguments) capturing every pane in `panes`.
    pub fn args(&self, panes: &[String]) -> Vec<String> {
        let mut v = Vec::new();
        // The marker carries the pane's position, not its id: display-message passes its text
        // through strftime, which mangles `%<digit>`.
        for (i, p) in panes.iter().enumerate() {
            v.extend([
                "display-message".into(),
                "-p".into(),
                format!("{}{i}", self.begin),
                ";".into(),
            ]);
            v.extend(self.capture_args(p));
            v.push(";".into());
        }
        v.extend(["display-message".into(), "-p".into(), self.end.clone()]);
        v
    }

    /// Splits the output of [`Batch::args`] for `panes`. Returns the complete captures and
    /// whether the end marker was seen. A pane whose capture did not complete (no marker after
    /// it) is left out. Markers come in the order of `panes`: one that does not move forward
    /// is screen content, so each pane is captured at most once.
    pub fn split(&self, panes: &[String], out: &str) -> (Vec<Captured>, bool) {
        let mut done = Vec::new();
        let mut current: Option<(String, Vec<&str>)> = None;
        let mut ended = false;
        let mut next = 0usize;
        for line in out.split('\n') {
            let marked = line
                .strip_prefix(self.begin.as_str())
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|&i| i >= next)
                .and_then(|i| Some((i, panes.get(i)?)));
            if let Some((i, id)) = marked {
                next = i + 1;
                if let Some((pid, lines)) = current.take() {
                    done.push(Captured {
                        pane_id: pid,
                        screen: join_screen(&lines),
                    });
                }
                current = Some((id.to_string(), Vec::new()));
            } else if line == self.end {
                if let Some((pid, lines)) = current.take() {
                    done.push(Captured {
                        pane_id: pid,
                        screen: join_screen(&lines),
                    });
                }
                ended = true;
                break;
            } else if let Some((_, lines)) = current.as_mut() {
                lines.push(line);
            }
        }
        (done, ended)
    }
}

/// Joins screen rows, dropping trailing blank rows (tmux prints every visible row). A screen
/// over [`gaffer_core::limits::MAX_SCREEN_BYTES`] keeps its last rows (the live bottom).
pub fn join_screen(lines: &[&str]) -> String {
    let mut end = lines.len();
    while end > 0 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    let screen = lines[..end].join("\n");
    let max = gaffer_core::limits::MAX_SCREEN_BYTES;
    if screen.len() > max {
        return gaffer_core::limits::keep_tail(&screen, max).to_string();
    }
    screen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn argv_is_one_command_list() {
        let b = Batch::new("t", 50);
        let a = b.args(&["%1".into(), "%2".into()]);
        assert_eq!(a.iter().filter(|x| *x == ";").count(), 4);
        assert_eq!(a.iter().filter(|x| *x == "capture-pane").count(), 2);
        assert!(a.contains(&"-50".to_string()));
        assert_eq!(a.last().map(String::as_str), Some("\u{1e}GEt"));
        // No `%` reaches display-message (strftime would mangle it).
        assert!(
            a.windows(3)
                .filter(|w| w[0] == "display-message")
                .all(|w| !w[2].contains('%'))
        );
    }

    #[test]
    fn a_huge_screen_keeps_its_bottom() {
        let row = "x".repeat(1000);
        let mut rows: Vec<&str> = vec![row.as_str(); 3000];
        rows.push("❯ the composer");
        let screen = join_screen(&rows);
        assert!(screen.len() <= gaffer_core::limits::MAX_SCREEN_BYTES);
        assert!(screen.ends_with("❯ the composer"));
        assert!(screen.starts_with('x'), "cut at a row start");
    }

    #[test]
    fn splits_panes() {
        let b = Batch::new("tok", 50);
        let out = format!(
            "{b1}0\nline one\n  \n\n{b1}1\n❯ \n\u{1e}GC-forged:0\n{b1}7\n{b1}2\n\n\n{e}\n",
            b1 = b.begin,
            e = b.end
        );
        let (caps, ended) = b.split(&ids(&["%1", "%2", "%3"]), &out);
        assert!(ended);
        assert_eq!(caps.len(), 3);
        assert_eq!(caps[0].pane_id, "%1");
        assert_eq!(caps[0].screen, "line one");
        assert_eq!(caps[1].pane_id, "%2");
        // A line that looks like a marker with another token is screen content.
        // A marker with another token, or out of range, is screen content.
        assert_eq!(caps[1].screen, "❯ \n\u{1e}GC-forged:0\n\u{1e}GCtok:7");
        assert_eq!(caps[2].screen, "");
    }

    #[test]
    fn a_screen_that_prints_marker_like_text_is_content() {
        let b = Batch::new("tok", 50);
        let out = format!("{}0\nGE\n%end 1 2 1\n{}\n", b.begin, b.end);
        let (caps, _) = b.split(&ids(&["%1"]), &out);
        assert_eq!(caps[0].screen, "GE\n%end 1 2 1");
    }

    #[test]
    fn a_repeated_marker_is_content_and_no_pane_is_captured_twice() {
        // found by the control_line fuzz target: markers for panes 0 and 1 twice gave four
        // captures for two panes
        let b = Batch::new("tok", 50);
        let out = format!(
            "{b1}0\na\n{b1}1\nb\n{b1}0\nc\n{b1}1\nd\n{e}\n",
            b1 = b.begin,
            e = b.end
        );
        let (caps, ended) = b.split(&ids(&["%1", "%2"]), &out);
        assert!(ended);
        assert_eq!(caps.len(), 2);
        assert_eq!(caps[0].pane_id, "%1");
        assert_eq!(caps[0].screen, "a");
        assert_eq!(caps[1].pane_id, "%2");
        assert_eq!(
            caps[1].screen,
            format!("b\n{b1}0\nc\n{b1}1\nd", b1 = b.begin)
        );
    }

    #[test]
    fn partial_output_keeps_complete_panes() {
        let b = Batch::new("tok", 50);
        // tmux stopped at %2 (vanished): its marker printed, then nothing.
        let out = format!("{b1}0\nhello\n{b1}1\n", b1 = b.begin);
        let (caps, ended) = b.split(&ids(&["%1", "%2"]), &out);
        assert!(!ended);
        assert_eq!(caps.len(), 1);
        assert_eq!(caps[0].screen, "hello");
    }
}
