//! The scripted model's part: one tool call per step of an assigned task, the quota error of
//! the limited agent, and what its log tells of the steps that ran.

use crate::error::ExitError;
use gaffer_model_sim::{ErrorKind, LogEntry, Mode, ModelServer, Reply, Rule, Script, ToolCall};
use gaffer_tmux::spawn::shell_quote;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// What the scripted model of one agent needs to know.
pub struct ScriptParams<'a> {
    /// The gaffer executable.
    pub gaffer: &'a Path,
    /// The project root.
    pub project: &'a Path,
    /// `--mail-url` for `gaffer mail`, when a server is used.
    pub mail_url: Option<&'a str>,
    /// The agent's pane id (for `record-tests --agent`).
    pub pane: &'a str,
    /// Where `br` is, when the project uses it: put on the PATH of each `gaffer` step, since a
    /// CLI may run commands in a login shell whose PATH lacks it (Codex does).
    pub br_dir: Option<&'a Path>,
}

/// The regex that reads an assignment prompt (`gaffer_core::messages::assignment_prompt`):
/// the bead, the file from its title, and the agent's Agent Mail name.
pub const ASSIGNMENT_PATTERN: &str = r"(?s)gaffer assigned you (?P<bead>[A-Za-z0-9][\w.-]*) \(P\d+\): Write (?P<file>[\w/.-]+\.txt).*?Your Agent Mail name is (?P<name>[A-Za-z0-9]+)";

/// The command lines of `gaffer` and `gaffer mail` in the project (with `br` on their PATH).
fn gaffer_commands(p: &ScriptParams<'_>) -> (String, String) {
    let q = |x: &Path| shell_quote(&x.display().to_string());
    let path_env = match p.br_dir {
        Some(d) => format!(
            "env {} ",
            shell_quote(&format!(
                "PATH={}:/usr/local/bin:/usr/bin:/bin",
                d.display()
            ))
        ),
        None => String::new(),
    };
    let gaffer = format!("{path_env}{} --project {}", q(p.gaffer), q(p.project));
    let mail = match p.mail_url {
        Some(u) => format!("{gaffer} mail --mail-url {}", shell_quote(u)),
        None => format!("{gaffer} mail"),
    };
    (gaffer, mail)
}

/// The script of one agent's model: on an assignment, one tool call per step (reserve, write,
/// record tests, report done), then a short answer.
pub fn agent_script(p: &ScriptParams<'_>) -> Script {
    let (gaffer, mail) = gaffer_commands(p);
    let shell = |command: String| Reply::Tools {
        text: String::new(),
        calls: vec![ToolCall::Shell {
            command,
            escalated: false,
        }],
    };
    let root = p.project.display().to_string();
    Script {
        rules: vec![Rule {
            pattern: ASSIGNMENT_PATTERN.into(),
            reply: shell(format!(
                "{mail} reserve --agent ${{name}} --ttl 900 --reason self-${{bead}} ${{file}}"
            )),
            then: vec![
                Reply::Tools {
                    text: String::new(),
                    calls: vec![ToolCall::WriteFile {
                        path: format!("{root}/${{file}}"),
                        content: "${bead}: written by the scripted model through the real CLI\n"
                            .into(),
                    }],
                },
                shell(format!(
                    "{gaffer} quality record-tests --agent {} --package real-e2e --passed 3 \
                     --failed 0",
                    p.pane
                )),
                shell(format!("{gaffer} done ${{bead}} --reason wrote-${{file}}")),
                Reply::Text {
                    text: "Finished ${bead}: wrote ${file}, tests recorded, reported done.".into(),
                    chunks: 3,
                    chunk_delay_ms: 100,
                    first_delay_ms: 0,
                },
            ],
            usage: None,
        }],
        mode: None,
    }
}

/// The error the limited agent's model answers with until it clears: a 429 its CLI does not
/// retry (Anthropic `rate_limit_error` with `x-should-retry: false`; the quota error of the
/// OpenAI and Gemini APIs).
pub fn limit_mode(kind: &str) -> Mode {
    let error = if kind == "cc" {
        ErrorKind::RateLimit
    } else {
        ErrorKind::Quota
    };
    Mode {
        reply: Reply::Error {
            status: 429,
            error,
            retry_after: None,
            should_retry: Some(false),
            message: None,
        },
        then: Vec::new(),
        usage: None,
        times: None,
    }
}

/// Sets a model server's script through its control endpoint (`POST /_control/script`).
pub fn set_script(server: &ModelServer, script: &Script) -> Result<(), ExitError> {
    let body = serde_json::to_string(script)
        .map_err(|e| ExitError::failure(format!("script JSON: {e}")))?;
    let fail = |e: std::io::Error| ExitError::failure(format!("model server control: {e}"));
    let mut s = std::net::TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5))
        .map_err(fail)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    let req = format!(
        "POST /_control/script HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(fail)?;
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(ExitError::failure(format!(
            "model server refused the script: {}",
            resp.lines().next().unwrap_or("(no answer)")
        )))
    }
}

/// The tool calls of one task: reserve, write, record tests, done.
pub const STEPS: usize = 4;

/// How many tool results of `bead`'s turn came back to the model (its prompt's last turn).
pub fn results_back(log: &[LogEntry], bead: &str) -> usize {
    let needle = format!("gaffer assigned you {bead} ");
    log.iter()
        .filter_map(|e| e.turn.as_ref())
        .filter(|t| t.last_user_text.contains(&needle))
        .map(|t| t.tool_results_since_user)
        .max()
        .unwrap_or(0)
}

/// The shell commands the scripted model had a CLI run (decisions with tool calls).
pub fn commands_decided(log: &[LogEntry]) -> Vec<String> {
    log.iter()
        .filter_map(|e| e.decision.as_ref())
        .filter_map(|d| match &d.reply {
            Reply::Tools { calls, .. } => Some(calls),
            _ => None,
        })
        .flatten()
        .filter_map(|c| match c {
            ToolCall::Shell { command, .. } => Some(command.clone()),
            ToolCall::WriteFile { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::project::{TASKS, task_title};
    use super::*;
    use gaffer_core::messages::{PromptInput, assignment_prompt};
    use gaffer_core::triage::TriageRecommendation;
    use gaffer_model_sim::Turn;

    fn turn(text: &str, results: usize) -> Turn {
        Turn {
            api: "anthropic".into(),
            model: "m".into(),
            last_user_text: text.into(),
            tool_results_since_user: results,
            has_tools: true,
            stream: true,
        }
    }

    /// gaffer's own assignment prompt drives the script through every step, in order.
    #[test]
    fn the_assignment_prompt_drives_each_step() {
        let bead = TriageRecommendation {
            id: "rl-3ab".into(),
            title: task_title(&TASKS[2]),
            priority: 2,
            unblocks_ids: vec!["rl-9".into()],
            ..Default::default()
        };
        for has_br in [true, false] {
            let prompt = assignment_prompt(&PromptInput {
                bead: &bead,
                description: "the HTTP API",
                files: &["notes/api.txt".to_string()],
                agent_name: "GreenCastle",
                has_br,
            });
            // Claude Code wraps a multi-line paste; the text inside is intact.
            let wrapped = format!("<pasted_content id=1>\n{prompt}</pasted_content id=1>");
            for text in [prompt.as_str(), wrapped.as_str()] {
                let mut s = agent_script(&ScriptParams {
                    gaffer: Path::new("/opt/g/gaffer"),
                    project: Path::new("/tmp/p"),
                    mail_url: Some("http://127.0.0.1:9/mcp/"),
                    pane: "%7",
                    br_dir: None,
                });
                let steps: Vec<Reply> = (0..5).map(|n| s.decide(&turn(text, n)).reply).collect();
                let shell = |r: &Reply| match r {
                    Reply::Tools { calls, .. } => match calls.as_slice() {
                        [ToolCall::Shell { command, .. }] => command.clone(),
                        other => panic!("one shell call expected: {other:?}"),
                    },
                    other => panic!("tools expected: {other:?}"),
                };
                assert_eq!(
                    shell(&steps[0]),
                    "'/opt/g/gaffer' --project '/tmp/p' mail --mail-url 'http://127.0.0.1:9/mcp/' \
                     reserve --agent GreenCastle --ttl 900 --reason self-rl-3ab notes/api.txt"
                );
                assert_eq!(
                    steps[1],
                    Reply::Tools {
                        text: String::new(),
                        calls: vec![ToolCall::WriteFile {
                            path: "/tmp/p/notes/api.txt".into(),
                            content: "rl-3ab: written by the scripted model through the real \
                                      CLI\n"
                                .into()
                        }]
                    }
                );
                assert!(
                    shell(&steps[2]).ends_with(
                        "quality record-tests --agent %7 --package real-e2e --passed 3 --failed 0"
                    ),
                    "{:?}",
                    steps[2]
                );
                assert_eq!(
                    shell(&steps[3]),
                    "'/opt/g/gaffer' --project '/tmp/p' done rl-3ab --reason wrote-notes/api.txt"
                );
                assert!(
                    matches!(&steps[4], Reply::Text { text, .. } if text.contains("Finished rl-3ab")),
                    "{:?}",
                    steps[4]
                );
            }
        }
    }

    #[test]
    fn other_prompts_get_a_plain_answer() {
        let mut s = agent_script(&ScriptParams {
            gaffer: Path::new("/g"),
            project: Path::new("/p"),
            mail_url: None,
            pane: "%1",
            br_dir: Some(Path::new("/opt/br")),
        });
        let d = s.decide(&turn("Hello, please summarise this repository.", 0));
        assert!(matches!(d.reply, Reply::Text { .. }), "{d:?}");
        assert_eq!(d.source, "default");
        // With br, every gaffer step finds it whatever PATH the CLI's shell has.
        let prompt = "gaffer assigned you rl-1 (P1): Write notes/a.txt (a)\n\nYour Agent Mail \
                      name is BlueLake. Reserve files";
        let d = s.decide(&turn(prompt, 3));
        assert!(
            matches!(&d.reply, Reply::Tools { calls, .. } if matches!(&calls[..],
                [ToolCall::Shell { command, .. }]
                    if command == "env 'PATH=/opt/br:/usr/local/bin:/usr/bin:/bin' '/g' \
                                   --project '/p' done rl-1 --reason wrote-notes/a.txt")),
            "{d:?}"
        );
    }
}
