//! The input decoder: keys, escape sequences and bracketed paste.

/// A decoded input event.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Typed text (no control characters).
    Text(String),
    /// A bracketed paste, with CR/CRLF turned into `\n`.
    Paste(String),
    /// Enter (CR or LF outside a paste).
    Enter,
    /// Backspace.
    Backspace,
    /// Ctrl-C.
    CtrlC,
    /// Ctrl-D.
    CtrlD,
    /// Ctrl-U (clear the line).
    CtrlU,
    /// A lone Escape.
    Escape,
}

/// Decodes terminal input bytes: keys, escape sequences and bracketed paste.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    in_paste: bool,
    paste: Vec<u8>,
}

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

impl Decoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether bytes are held back waiting for the rest of a sequence.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Feeds bytes; returns the complete events. `flush` treats a trailing lone ESC as Escape.
    pub fn feed(&mut self, bytes: &[u8], flush: bool) -> Vec<Input> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut text = Vec::new();
        let mut i = 0;
        let b = std::mem::take(&mut self.buf);
        while i < b.len() {
            if self.in_paste {
                if b[i..].starts_with(PASTE_END) {
                    self.in_paste = false;
                    i += PASTE_END.len();
                    let raw = std::mem::take(&mut self.paste);
                    out.push(Input::Paste(normalize_paste(&raw)));
                    continue;
                }
                if b[i] == 0x1b && PASTE_END.starts_with(&b[i..]) {
                    // maybe a split end marker: keep for the next read
                    self.buf = b[i..].to_vec();
                    return finish(out, text);
                }
                self.paste.push(b[i]);
                i += 1;
                continue;
            }
            let c = b[i];
            match c {
                0x1b => {
                    let rest = &b[i..];
                    if rest.starts_with(PASTE_START) {
                        flush_text(&mut out, &mut text);
                        self.in_paste = true;
                        i += PASTE_START.len();
                        continue;
                    }
                    if rest.len() == 1 {
                        if flush {
                            flush_text(&mut out, &mut text);
                            out.push(Input::Escape);
                            i += 1;
                            continue;
                        }
                        self.buf = rest.to_vec();
                        return finish(out, text);
                    }
                    if rest[1] == b'[' || rest[1] == b'O' {
                        // CSI / SS3: skip to the final byte
                        let mut j = 2;
                        while j < rest.len() && !(0x40..=0x7e).contains(&rest[j]) {
                            j += 1;
                        }
                        if j >= rest.len() {
                            if flush {
                                i = b.len();
                                continue;
                            }
                            self.buf = rest.to_vec();
                            return finish(out, text);
                        }
                        flush_text(&mut out, &mut text);
                        i += j + 1;
                        continue;
                    }
                    flush_text(&mut out, &mut text);
                    out.push(Input::Escape);
                    i += 1;
                }
                b'\r' | b'\n' => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::Enter);
                    i += 1;
                }
                0x7f | 0x08 => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::Backspace);
                    i += 1;
                }
                0x03 => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::CtrlC);
                    i += 1;
                }
                0x04 => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::CtrlD);
                    i += 1;
                }
                0x15 => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::CtrlU);
                    i += 1;
                }
                b'\t' => {
                    text.push(b'\t');
                    i += 1;
                }
                c if c < 0x20 => i += 1,
                _ => {
                    // keep UTF-8 sequences whole
                    let len = utf8_len(c);
                    if i + len > b.len() {
                        if flush {
                            i = b.len();
                            continue;
                        }
                        flush_text(&mut out, &mut text);
                        self.buf = b[i..].to_vec();
                        return out;
                    }
                    text.extend_from_slice(&b[i..i + len]);
                    i += len;
                }
            }
        }
        finish(out, text)
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

fn flush_text(out: &mut Vec<Input>, text: &mut Vec<u8>) {
    if !text.is_empty() {
        out.push(Input::Text(String::from_utf8_lossy(text).into_owned()));
        text.clear();
    }
}

fn finish(mut out: Vec<Input>, mut text: Vec<u8>) -> Vec<Input> {
    flush_text(&mut out, &mut text);
    out
}

fn normalize_paste(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.replace("\r\n", "\n").replace('\r', "\n")
}
