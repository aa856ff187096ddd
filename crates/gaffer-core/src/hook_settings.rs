//! Merging gaffer's hooks into an agent's JSON settings file (pure, no IO).
//!
//! All three CLIs read the same shape: `hooks` → event name → a list of matcher groups
//! `{ "matcher"?, "hooks": [ { "type": "command", "command": … } ] }`. gaffer's entries are
//! recognised by their command: the absolute path of a `gaffer` binary followed by
//! ` hook --agent `. Install adds one group per event (or updates the command of ours in
//! place), never touching anything else; uninstall removes exactly our entries and the
//! groups, events and `hooks` object that only they filled. Key order is kept ([`Node`]).

use crate::hook_payload::installed_events;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A JSON value that keeps the order of object keys as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Num(serde_json::Number),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Node>),
    /// An object, keys in file order.
    Obj(Vec<(String, Node)>),
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Obj(kv) => kv.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn remove(&mut self, key: &str) {
        if let Node::Obj(kv) = self {
            kv.retain(|(k, _)| k != key);
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    fn str(s: &str) -> Node {
        Node::Str(s.to_string())
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Num(n) => n.serialize(s),
            Node::Str(v) => s.serialize_str(v),
            Node::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Node::Obj(kv) => {
                let mut map = s.serialize_map(Some(kv.len()))?;
                for (k, v) in kv {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Num(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Num(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                serde_json::Number::from_f64(v)
                    .map(Node::Num)
                    .ok_or_else(|| E::custom("a number JSON cannot hold"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::str(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = a.next_element()? {
                    out.push(v);
                }
                Ok(Node::Arr(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Node>()? {
                    out.push((k, v));
                }
                Ok(Node::Obj(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Why a settings file cannot be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// Not valid JSON.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message.
        message: String,
    },
    /// Valid JSON, but not the shape the CLI reads.
    #[error("{0}")]
    Shape(String),
}

/// Parses a settings file's text (an empty file is an empty object).
pub fn parse(text: &str) -> Result<Node, SettingsError> {
    if text.trim().is_empty() {
        return Ok(Node::Obj(Vec::new()));
    }
    let node: Node = serde_json::from_str(text).map_err(|e| SettingsError::Syntax {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?;
    if !matches!(node, Node::Obj(_)) {
        return Err(SettingsError::Shape(
            "the top level is not a JSON object".into(),
        ));
    }
    Ok(node)
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The file's text: two-space indented JSON and a final newline.
pub fn render(node: &Node) -> String {
    let mut s = serde_json::to_string_pretty(node).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// The command gaffer installs for `agent`'s `event`, running the gaffer binary at `gaffer`
/// (absolute). Its output is discarded and its status forced to 0 by the shell, so a missing
/// or broken gaffer never changes the agent's turn.
pub fn command(gaffer: &str, agent: &str, event: &str) -> String {
    format!(
        "{} hook --agent {agent} {event} 2>/dev/null || true",
        shell_quote(gaffer)
    )
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether `command` is one gaffer installed: a path to a `gaffer` binary, then
/// ` hook --agent `.
pub fn is_ours(command: &str) -> bool {
    let (program, rest) = if let Some(q) = command.strip_prefix('\'') {
        match q.find('\'') {
            Some(end) => (&q[..end], &q[end + 1..]),
            None => return false,
        }
    } else {
        match command.find(' ') {
            Some(sp) => (&command[..sp], &command[sp..]),
            None => return false,
        }
    };
    program.starts_with('/')
        && program.rsplit('/').next() == Some("gaffer")
        && rest.starts_with(" hook --agent ")
}

/// One of gaffer's hooks found in a settings file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Installed {
    /// The CLI's event name.
    pub event: String,
    /// The command as written.
    pub command: String,
}

/// What [`install`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallReport {
    /// Events that got a new group.
    pub added: Vec<String>,
    /// Events whose gaffer command was rewritten (another gaffer path).
    pub updated: Vec<String>,
    /// Events already installed as wanted.
    pub unchanged: Vec<String>,
}

impl InstallReport {
    /// Whether the file must be written.
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.updated.is_empty()
    }
}

fn hooks_obj(root: &mut Node) -> Result<&mut Vec<(String, Node)>, SettingsError> {
    let Node::Obj(top) = root else {
        return Err(SettingsError::Shape(
            "the top level is not a JSON object".into(),
        ));
    };
    if !top.iter().any(|(k, _)| k == "hooks") {
        top.push(("hooks".into(), Node::Obj(Vec::new())));
    }
    match root.get_mut("hooks") {
        Some(Node::Obj(kv)) => Ok(kv),
        _ => Err(SettingsError::Shape(
            "\"hooks\" is not a JSON object".into(),
        )),
    }
}

fn entry(agent: &str, command: String) -> Node {
    let mut kv = vec![
        ("type".to_string(), Node::str("command")),
        ("command".to_string(), Node::Str(command)),
    ];
    match agent {
        // Claude: seconds.
        "cc" => kv.push(("timeout".into(), Node::Num(5.into()))),
        // Gemini: milliseconds, and a name its /hooks panel shows.
        "gmi" => {
            kv.insert(0, ("name".into(), Node::str("gaffer")));
            kv.push(("timeout".into(), Node::Num(5000.into())));
        }
        _ => {}
    }
    Node::Obj(kv)
}

/// Adds gaffer's hooks for `agent` (run as `gaffer`, an absolute path) to `root`.
pub fn install(root: &mut Node, agent: &str, gaffer: &str) -> Result<InstallReport, SettingsError> {
    let events = installed_events(agent);
    if events.is_empty() {
        return Err(SettingsError::Shape(format!(
            "unknown agent kind {agent:?}"
        )));
    }
    let hooks = hooks_obj(root)?;
    let mut report = InstallReport::default();
    for (event, tool) in events {
        let want = command(gaffer, agent, event);
        if !hooks.iter().any(|(k, _)| k == event) {
            hooks.push((event.to_string(), Node::Arr(Vec::new())));
        }
        let Some(Node::Arr(groups)) = hooks.iter_mut().find(|(k, _)| k == event).map(|(_, v)| v)
        else {
            return Err(SettingsError::Shape(format!(
                "\"hooks\".\"{event}\" is not a JSON array"
            )));
        };
        let mut found = false;
        for group in groups.iter_mut() {
            if let Some(Node::Arr(list)) = group.get_mut("hooks") {
                for h in list.iter_mut() {
                    let Some(cmd) = h.get("command").and_then(Node::as_str) else {
                        continue;
                    };
                    if !is_ours(cmd) {
                        continue;
                    }
                    if found || cmd == want {
                        found = true;
                        continue;
                    }
                    if let Some(c) = h.get_mut("command") {
                        *c = Node::Str(want.clone());
                    }
                    report.updated.push(event.to_string());
                    found = true;
                }
            }
        }
        if found {
            if !report.updated.iter().any(|u| u == event) {
                report.unchanged.push(event.to_string());
            }
            continue;
        }
        let mut group = Vec::new();
        if *tool && agent != "cod" {
            group.push(("matcher".to_string(), Node::str("*")));
        }
        group.push(("hooks".to_string(), Node::Arr(vec![entry(agent, want)])));
        groups.push(Node::Obj(group));
        report.added.push(event.to_string());
    }
    Ok(report)
}

/// Removes every gaffer hook from `root`; returns what was removed. Groups, events and the
/// `hooks` object are dropped only when gaffer's entries were all they held.
pub fn uninstall(root: &mut Node) -> Vec<Installed> {
    let mut removed = Vec::new();
    let Some(Node::Obj(hooks)) = root.get_mut("hooks") else {
        return removed;
    };
    for (event, groups) in hooks.iter_mut() {
        let Node::Arr(groups) = groups else { continue };
        groups.retain_mut(|group| {
            let Some(Node::Arr(list)) = group.get_mut("hooks") else {
                return true;
            };
            let before = list.len();
            list.retain(|h| match h.get("command").and_then(Node::as_str) {
                Some(cmd) if is_ours(cmd) => {
                    removed.push(Installed {
                        event: event.clone(),
                        command: cmd.to_string(),
                    });
                    false
                }
                _ => true,
            });
            !(list.is_empty() && before > 0)
        });
    }
    let emptied: Vec<String> = hooks
        .iter()
        .filter(|(k, v)| {
            matches!(v, Node::Arr(g) if g.is_empty()) && removed.iter().any(|r| &r.event == k)
        })
        .map(|(k, _)| k.clone())
        .collect();
    hooks.retain(|(k, _)| !emptied.contains(k));
    if hooks.is_empty() && !removed.is_empty() {
        root.remove("hooks");
    }
    removed
}

/// gaffer's hooks in `root`, in file order.
pub fn installed(root: &Node) -> Vec<Installed> {
    let mut out = Vec::new();
    let Some(Node::Obj(hooks)) = root.get("hooks") else {
        return out;
    };
    for (event, groups) in hooks {
        let Node::Arr(groups) = groups else { continue };
        for group in groups {
            let Some(Node::Arr(list)) = group.get("hooks") else {
                continue;
            };
            for h in list {
                if let Some(cmd) = h
                    .get("command")
                    .and_then(Node::as_str)
                    .filter(|c| is_ours(c))
                {
                    out.push(Installed {
                        event: event.clone(),
                        command: cmd.to_string(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "/opt/gaffer/bin/gaffer";

    fn p(text: &str) -> Node {
        match parse(text) {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        }
    }

    fn inst(n: &mut Node, agent: &str, g: &str) -> InstallReport {
        match install(n, agent, g) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    const USER: &str = r#"{
  "model": "opus",
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          { "type": "command", "command": "/usr/local/bin/audit.sh" }
        ]
      }
    ],
    "Stop": [
      { "hooks": [ { "type": "command", "command": "notify-send done" } ] }
    ]
  },
  "permissions": { "allow": ["Bash(ls)"] },
  "zeta": 1.5
}"#;

    #[test]
    fn install_keeps_the_users_hooks_and_key_order() {
        let mut n = p(USER);
        let r = inst(&mut n, "cc", G);
        assert_eq!(r.added.len(), installed_events("cc").len());
        let text = render(&n);
        assert!(text.contains("/usr/local/bin/audit.sh"));
        assert!(text.contains("notify-send done"));
        assert!(text.contains("Bash(ls)"));
        let order: Vec<usize> = ["\"model\"", "\"hooks\"", "\"permissions\"", "\"zeta\""]
            .iter()
            .map(|k| text.find(k).unwrap_or(usize::MAX))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains("1.5"));
        // The user's PreToolUse group stays first, ours follows.
        let pre = installed(&n)
            .into_iter()
            .filter(|i| i.event == "PreToolUse")
            .count();
        assert_eq!(pre, 1);
        let user_pos = text.find("audit.sh").unwrap_or(usize::MAX);
        let ours_pos = text.find(&command(G, "cc", "PreToolUse")).unwrap_or(0);
        assert!(user_pos < ours_pos);
    }

    #[test]
    fn install_is_idempotent() {
        let mut n = p(USER);
        inst(&mut n, "cc", G);
        let once = render(&n);
        let again = inst(&mut n, "cc", G);
        assert!(!again.changed());
        assert_eq!(again.unchanged.len(), installed_events("cc").len());
        assert_eq!(render(&n), once);
    }

    #[test]
    fn a_moved_gaffer_is_updated_in_place() {
        let mut n = p("{}");
        inst(&mut n, "gmi", G);
        let r = inst(&mut n, "gmi", "/new place/gaffer");
        assert_eq!(r.updated.len(), installed_events("gmi").len());
        assert!(r.added.is_empty());
        let all = installed(&n);
        assert_eq!(all.len(), installed_events("gmi").len());
        assert!(
            all.iter()
                .all(|i| i.command.starts_with("'/new place/gaffer' hook"))
        );
    }

    #[test]
    fn uninstall_removes_exactly_what_install_added() {
        for agent in ["cc", "cod", "gmi"] {
            let mut n = p(USER);
            inst(&mut n, agent, G);
            let removed = uninstall(&mut n);
            assert_eq!(removed.len(), installed_events(agent).len(), "{agent}");
            assert_eq!(n, p(USER), "{agent}: the file is back as it was");
        }
        let mut empty = p("{}");
        inst(&mut empty, "cc", G);
        uninstall(&mut empty);
        assert_eq!(render(&empty), "{}\n");
        // A user's own empty group is not ours to remove.
        let mut own = p(r#"{"hooks":{"Stop":[{"hooks":[]}]}}"#);
        assert!(uninstall(&mut own).is_empty());
        assert_eq!(own, p(r#"{"hooks":{"Stop":[{"hooks":[]}]}}"#));
    }

    #[test]
    fn ours_is_recognised_by_the_command_only() {
        assert!(is_ours(&command(G, "cc", "Stop")));
        assert!(is_ours(&command("/a b/gaffer", "cod", "Stop")));
        assert!(!is_ours("gaffer hook --agent cc Stop"), "relative path");
        assert!(!is_ours("/usr/bin/gaffer-x hook --agent cc Stop"));
        assert!(!is_ours("/usr/bin/gaffer status"));
        assert!(!is_ours("echo /usr/bin/gaffer hook --agent cc"));
        assert_eq!(
            command("/a'b/gaffer", "cc", "Stop"),
            r"'/a'\''b/gaffer' hook --agent cc Stop 2>/dev/null || true"
        );
    }

    #[test]
    fn the_entry_shape_per_agent() {
        let mut n = p("{}");
        inst(&mut n, "cc", G);
        let text = render(&n);
        assert!(text.contains("\"matcher\": \"*\""));
        assert!(text.contains("\"timeout\": 5\n"));
        let mut g = p("{}");
        inst(&mut g, "gmi", G);
        let text = render(&g);
        assert!(text.contains("\"name\": \"gaffer\""));
        assert!(text.contains("\"timeout\": 5000"));
        let mut c = p("{}");
        inst(&mut c, "cod", G);
        assert!(!render(&c).contains("matcher"));
    }

    #[test]
    fn malformed_files_are_refused_with_the_line() {
        let e = parse("{\n  \"a\": 1,\n  \"b\": \n}").err();
        assert!(
            matches!(&e, Some(SettingsError::Syntax { line: 4, .. })),
            "{e:?}"
        );
        assert!(matches!(parse("[1]"), Err(SettingsError::Shape(_))));
        let mut bad = p(r#"{"hooks": []}"#);
        assert!(matches!(
            install(&mut bad, "cc", G),
            Err(SettingsError::Shape(_))
        ));
        let mut bad = p(r#"{"hooks": {"Stop": {}}}"#);
        assert!(matches!(
            install(&mut bad, "cc", G),
            Err(SettingsError::Shape(_))
        ));
        assert_eq!(p(""), Node::Obj(Vec::new()));
    }
}
