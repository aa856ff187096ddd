//! Terminal escape sequences and control characters (ECMA-48): the one stripper used by screen
//! detection and by everything gaffer prints, so text from outside (screens, bead titles, pane
//! titles, agent names, mail) can never move the cursor, retitle a window, rewrite the screen or
//! talk to the user's terminal.
//!
//! Removed:
//! - CSI (`ESC [` or C1 `U+009B`): parameter and intermediate bytes up to a final byte in
//!   `0x40..=0x7E` (`ESC[1m`, `ESC[2~`, `ESC[4@`, `ESC[?25l`);
//! - control strings, OSC (`ESC ]`, `U+009D`), DCS (`ESC P`, `U+0090`), APC (`ESC _`,
//!   `U+009F`), PM (`ESC ^`, `U+009E`) and SOS (`ESC X`, `U+0098`), up to BEL or ST (`ESC \`
//!   or `U+009C`); an unterminated one runs to the end of the text, as in a terminal;
//! - `ESC` with intermediate bytes `0x20..=0x2F` and a final byte (charset designations
//!   `ESC ( B`, `ESC ) 0`, `ESC * A`, `ESC + B`, `ESC # 8`, `ESC % G`);
//! - two-character sequences `ESC` + `0x30..=0x7E` (`ESC 7`, `ESC c`, `ESC M`, `ESC =`);
//! - every other C0 control (except line feed and tab), DEL and the C1 controls
//!   `U+0080..=U+009F`. CAN and SUB cancel a sequence in progress.
//!
//! [`strip`] keeps line feeds and tabs (for screens and multi-line text); [`sanitize_line`]
//! also turns them into spaces, for a value printed inside one line (a table cell, a title).

const ESC: char = '\x1b';
const BEL: char = '\x07';
const CAN: char = '\x18';
const SUB: char = '\x1a';
const CSI_C1: char = '\u{9b}';
const ST_C1: char = '\u{9c}';

/// Whether `s` holds anything [`strip`] would remove (so callers can skip the copy).
pub fn has_controls(s: &str) -> bool {
    s.chars().any(is_removed_control)
}

fn is_removed_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Whether `c` opens a control string when it follows `ESC` (its C1 form is `c + 0x40`).
fn opens_string(c: char) -> bool {
    matches!(c, ']' | 'P' | '_' | '^' | 'X')
}

/// Whether `c` is a C1 control that opens a control string.
fn is_c1_string(c: char) -> bool {
    matches!(c, '\u{9d}' | '\u{90}' | '\u{9f}' | '\u{9e}' | '\u{98}')
}

/// `s` without escape sequences and control characters (line feeds and tabs kept).
pub fn strip(s: &str) -> String {
    if !has_controls(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    // an ESC that ended a control string and starts the next sequence
    let mut pending_esc = false;
    loop {
        let c = if pending_esc {
            pending_esc = false;
            ESC
        } else {
            match it.next() {
                Some(c) => c,
                None => break,
            }
        };
        match c {
            ESC => match it.peek().copied() {
                Some('[') => {
                    it.next();
                    skip_csi(&mut it);
                }
                Some(n) if opens_string(n) => {
                    it.next();
                    pending_esc = skip_string(&mut it);
                }
                Some(n) if ('\x20'..='\x2f').contains(&n) => {
                    // nF: intermediates, then one final byte
                    while it.next_if(|d| ('\x20'..='\x2f').contains(d)).is_some() {}
                    it.next_if(|d| ('\x30'..='\x7e').contains(d));
                }
                Some(n) if ('\x30'..='\x7e').contains(&n) => {
                    it.next();
                }
                // a lone ESC (or ESC before a control or non-ASCII): dropped
                _ => {}
            },
            CSI_C1 => skip_csi(&mut it),
            c if is_c1_string(c) => pending_esc = skip_string(&mut it),
            c if is_removed_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of a CSI sequence: bytes `0x20..=0x3F` up to a final byte `0x40..=0x7E`.
/// Anything else (a control, non-ASCII) ends the sequence and is read again by the caller's
/// loop, except CAN/SUB, which cancel it.
fn skip_csi(it: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(&d) = it.peek() {
        match d {
            '\x20'..='\x3f' => {
                it.next();
            }
            '\x40'..='\x7e' | CAN | SUB => {
                it.next();
                return;
            }
            _ => return,
        }
    }
}

/// Skips a control string's body and its terminator (BEL, `ESC \` or ST); CAN/SUB cancel it.
/// Returns true when an `ESC` that is not part of ST ended the string: it starts the next
/// sequence.
fn skip_string(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    while let Some(d) = it.next() {
        match d {
            BEL | ST_C1 | CAN | SUB => return false,
            ESC => return it.next_if_eq(&'\\').is_none(),
            _ => {}
        }
    }
    false
}

/// `s` made safe to print inside one line: [`strip`], then line feeds and tabs as spaces.
pub fn sanitize_line(s: &str) -> String {
    let stripped = strip(s);
    if stripped.contains(['\n', '\t']) {
        stripped.replace(['\n', '\t'], " ")
    } else {
        stripped
    }
}

/// Whether `s` is free of every byte that a terminal would act on: no C0 control but line feed
/// and tab, no DEL, no C1 control.
pub fn is_inert(s: &str) -> bool {
    !has_controls(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csi_with_every_final_byte() {
        assert_eq!(strip("\x1b[1mbold\x1b[0m ok"), "bold ok");
        assert_eq!(strip("a\x1b[2~b\x1b[4@c\x1b[?25ld\x1b[38;5;196me"), "abcde");
        assert_eq!(
            strip("x\x1b[1;2 qy"),
            "xy",
            "intermediate byte before the final"
        );
        assert_eq!(strip("\u{9b}31mred\u{9b}0m"), "red", "C1 CSI");
    }

    #[test]
    fn charset_designations_and_two_char_sequences() {
        assert_eq!(strip("\x1b(Bplain\x1b)0\x1b*A\x1b+B"), "plain");
        assert_eq!(strip("\x1b#8\x1b%G\x1b7saved\x1b8\x1bc\x1bM"), "saved");
        assert_eq!(strip("end\x1b"), "end", "a lone ESC at the end");
    }

    #[test]
    fn control_strings_end_at_bel_or_st() {
        assert_eq!(strip("\x1b]0;title\x07after"), "after");
        assert_eq!(strip("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"), "link");
        assert_eq!(strip("\x1bPq#0;2;0;0;0\x1b\\img"), "img", "DCS (sixel)");
        assert_eq!(
            strip("\x1b_Gf=100;AAAA\x1b\\pic"),
            "pic",
            "APC (kitty graphics)"
        );
        assert_eq!(strip("\x1b^private\x1b\\ok\x1bXsos\x1b\\!"), "ok!");
        assert_eq!(strip("\u{9d}0;t\u{9c}x\u{90}dcs\u{9c}y"), "xy", "C1 forms");
        assert_eq!(strip("keep\x1b]0;never ends"), "keep");
        assert_eq!(
            strip("\x1b]0;t\x1b[31mred"),
            "red",
            "ESC ends the string, starts CSI"
        );
    }

    #[test]
    fn lone_controls_go_lines_and_tabs_stay() {
        assert_eq!(strip("a\rb\x08c\x00d\x7fe\u{85}f\n\tg"), "abcdef\n\tg");
        assert_eq!(
            sanitize_line("two\nlines\tand\x1b[2Jclear"),
            "two lines andclear"
        );
        assert_eq!(strip("naïve ✓ 中文"), "naïve ✓ 中文");
    }

    #[test]
    fn can_cancels_a_sequence() {
        assert_eq!(strip("\x1b[12\x18x"), "x");
        assert_eq!(strip("\x1b]0;t\x1ay"), "y");
    }

    #[test]
    fn output_is_always_inert() {
        // every pair of interesting characters, with text around them
        let alphabet = [
            '\x1b', '[', ']', 'P', '_', '^', 'X', '(', '\\', '\x07', '\u{9b}', '\u{9c}', '\u{9d}',
            '\u{90}', '\x18', '\r', 'm', '~', '@', '0', ';', 'a', 'é', '\n',
        ];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let s: String = ['x', a, b, c, 'y'].iter().collect();
                    let out = strip(&s);
                    assert!(is_inert(&out), "{s:?} -> {out:?}");
                    assert!(!sanitize_line(&s).contains(['\n', '\t']), "{s:?}");
                }
            }
        }
    }
}
