//! Terminal drawing shared by the live views (`gaffer dashboard`, `gaffer demo`): colours, the
//! agents table, and stripping colours for output that is not a terminal.

use gaffer_core::status::AgentStatus;

/// Bold.
pub const BOLD: &str = "\x1b[1m";
/// Dim.
pub const DIM: &str = "\x1b[2m";
/// Back to normal.
pub const RESET: &str = "\x1b[0m";

/// The colour of an agent state: green waiting, cyan busy, yellow held up, red in trouble.
pub fn status_color(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::Waiting => "\x1b[32m",
        AgentStatus::Generating | AgentStatus::Thinking => "\x1b[36m",
        AgentStatus::RateLimited | AgentStatus::Blocked => "\x1b[33m",
        AgentStatus::Error | AgentStatus::Stalled | AgentStatus::Exited => "\x1b[31m",
        AgentStatus::Unknown => DIM,
    }
}

/// How a column aligns its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Padded on the right.
    Left,
    /// Padded on the left.
    Right,
}

/// One column of a [`Table`].
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The heading.
    pub title: &'static str,
    /// The width cells are padded to (0: not padded).
    pub width: usize,
    /// The alignment.
    pub align: Align,
    /// Spaces before the column (ignored for the first one).
    pub gap: usize,
}

impl Column {
    /// A left-aligned column one space after the previous one.
    pub const fn left(title: &'static str, width: usize) -> Self {
        Column {
            title,
            width,
            align: Align::Left,
            gap: 1,
        }
    }

    /// A right-aligned column one space after the previous one.
    pub const fn right(title: &'static str, width: usize) -> Self {
        Column {
            title,
            width,
            align: Align::Right,
            gap: 1,
        }
    }

    /// The same column `gap` spaces after the previous one.
    pub const fn after(mut self, gap: usize) -> Self {
        self.gap = gap;
        self
    }
}

/// One cell: its text and, optionally, the colour it is drawn in (padding included).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// An SGR colour, reset after the cell.
    pub color: Option<&'static str>,
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell { text, color: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::from(text.to_string())
    }
}

impl Cell {
    /// A coloured cell.
    pub fn colored(text: impl Into<String>, color: &'static str) -> Self {
        Cell {
            text: text.into(),
            color: Some(color),
        }
    }
}

/// A table of fixed-width columns, drawn as lines (the heading in bold).
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[Column]) -> Self {
        Table {
            columns: columns.to_vec(),
        }
    }

    /// The heading line, in bold.
    pub fn heading(&self) -> String {
        let cells: Vec<Cell> = self.columns.iter().map(|c| Cell::from(c.title)).collect();
        format!("{BOLD}{}{RESET}", self.line(&cells))
    }

    /// One row; missing cells are empty.
    pub fn row(&self, cells: &[Cell]) -> String {
        self.line(cells)
    }

    fn line(&self, cells: &[Cell]) -> String {
        let mut out = String::new();
        for (i, col) in self.columns.iter().enumerate() {
            if i > 0 {
                out.extend(std::iter::repeat_n(' ', col.gap));
            }
            let cell = cells.get(i).cloned().unwrap_or_default();
            // cells hold outside text (titles, names): never let it reach the terminal raw
            let text = crate::output::safe(&cell.text);
            let padded = match col.align {
                Align::Left => pad_right(&text, col.width),
                Align::Right => pad_left(&text, col.width),
            };
            match cell.color {
                Some(c) => {
                    out.push_str(c);
                    out.push_str(&padded);
                    out.push_str(RESET);
                }
                None => out.push_str(&padded),
            }
        }
        out
    }
}

/// The display width of `s` in terminal columns (wide characters count 2, combining marks 0).
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` padded with spaces on the right to `w` columns of display width.
pub fn pad_right(s: &str, w: usize) -> String {
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(width(s))));
    out
}

/// `s` padded with spaces on the left to `w` columns of display width.
pub fn pad_left(s: &str, w: usize) -> String {
    let mut out: String = std::iter::repeat_n(' ', w.saturating_sub(width(s))).collect();
    out.push_str(s);
    out
}

/// `s` cut to at most `w` columns of display width, ending in `…` when cut.
pub fn fit(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw + 1 > w {
            break;
        }
        used += cw;
        out.push(c);
    }
    if w > 0 {
        out.push('…');
    }
    out
}

/// The short name in a gaffer pane title (`demo__cc_1` → `cc_1`); the title when it has none.
pub fn short_title(title: &str) -> &str {
    title.split("__").nth(1).unwrap_or(title)
}

/// Removes every escape sequence (our colours included), for output that is not a terminal.
pub fn strip_ansi(s: &str) -> String {
    gaffer_core::escapes::strip(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colours() {
        assert_eq!(strip_ansi("\x1b[1mgaffer\x1b[0m ok"), "gaffer ok");
        // sequences ending in `~` or `@`, charset designations and OSC/DCS are removed too
        assert_eq!(
            strip_ansi("a\x1b[2~b\x1b[4@c\x1b(Bd\x1b]0;t\x1b\\e"),
            "abcde"
        );
    }

    #[test]
    fn cells_are_sanitised() {
        let t = Table::new(&[Column::left("TASK", 0)]);
        assert_eq!(t.row(&[Cell::from("x\x1b[2Jy\nz")]), "xy z");
    }

    #[test]
    fn table_pads_aligns_and_colours() {
        let t = Table::new(&[
            Column::left("PANE", 6),
            Column::right("CTX", 5),
            Column::left("TASK", 0).after(2),
        ]);
        assert_eq!(
            t.heading(),
            format!("{BOLD}{:<6} {:>5}  {}{RESET}", "PANE", "CTX", "TASK")
        );
        let row = t.row(&[
            Cell::colored("%1", "\x1b[32m"),
            Cell::from("12%"),
            Cell::from("bd-1"),
        ]);
        assert_eq!(row, "\x1b[32m%1    \x1b[0m   12%  bd-1");
        assert_eq!(
            strip_ansi(&row),
            format!("{:<6} {:>5}  {}", "%1", "12%", "bd-1")
        );
    }

    #[test]
    fn padding_and_cutting_count_display_width() {
        // 名前 is 2 characters and 4 columns wide; é written as e + a combining accent is 1.
        assert_eq!(pad_right("名前", 6), "名前  ");
        assert_eq!(pad_left("e\u{301}", 3), "  e\u{301}");
        assert_eq!(width(&pad_right("名前", 6)), 6);
        assert_eq!(fit("エージェント一号", 9), "エージェ…");
        assert_eq!(width(&fit("エージェント一号", 9)), 9);
        assert_eq!(fit("abc", 9), "abc");
        let t = Table::new(&[Column::left("NAME", 8), Column::left("STATE", 0)]);
        let rows = [
            t.row(&[Cell::from("名前"), Cell::from("WAITING")]),
            t.row(&[Cell::from("ab"), Cell::from("WAITING")]),
        ];
        // the state column starts at the same screen column in both rows
        let col = |r: &str| width(&r[..r.find("WAITING").unwrap()]);
        assert_eq!(col(&rows[0]), col(&rows[1]));
    }

    #[test]
    fn short_titles() {
        assert_eq!(short_title("demo__cc_1"), "cc_1");
        assert_eq!(short_title("plain"), "plain");
    }
}
