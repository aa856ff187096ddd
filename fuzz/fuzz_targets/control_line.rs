//! What tmux prints, as gaffer reads it: control-mode lines (`parse_line`, `unescape`), the
//! batched `list-panes` listing and the batched `capture-pane` output, on arbitrary bytes.
//! Checks: unescaping never grows the data and undoes tmux's octal escaping exactly; `%output`
//! data is the unescaped rest of the line; captures come back one per pane asked at most.
#![no_main]

use gaffer_tmux::capture::Batch;
use gaffer_tmux::control::{ControlLine, parse_line, unescape};
use gaffer_tmux::list::ListFormat;
use libfuzzer_sys::fuzz_target;

/// tmux's control-mode escaping: bytes below a space and `\` as `\ooo`.
fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        if b < b' ' || b == b'\\' {
            out.extend_from_slice(format!("\\{b:03o}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let parsed = parse_line(line);
        if let ControlLine::Output { data: out, .. } = &parsed {
            assert!(out.len() <= line.len(), "output data longer than its line");
        }
        if let Some(rest) = line.strip_prefix(b"%output ")
            && let Some(sp) = rest.iter().position(|b| *b == b' ')
        {
            let ControlLine::Output { data: out, .. } = &parsed else {
                panic!("an %output line was not read as output: {parsed:?}");
            };
            assert_eq!(*out, unescape(&rest[sp + 1..]));
        }
        assert!(unescape(line).len() <= line.len());
    }
    assert_eq!(unescape(&escape(data)), data, "unescape(escape(x)) != x");

    let text = String::from_utf8_lossy(data);
    let list = ListFormat::new("T");
    let _ = list.parse(&text);
    let _ = list.parse_with_pins(&text);
    let panes: Vec<String> = ["%0", "%1", "%7"].iter().map(|s| s.to_string()).collect();
    let (captured, _) = Batch::new("T", 50).split(&panes, &text);
    assert!(captured.len() <= panes.len(), "more captures than panes");
});
