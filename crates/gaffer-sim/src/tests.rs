//! Tests of the model, the script parser, the decoder and the renderer.

use crate::*;

#[test]
fn decodes_keys_and_paste() {
    let mut d = Decoder::new();
    let ev = d.feed(b"ab\x1b[200~x;y\rC-c Enter\r\n\x1b[201~\r", false);
    assert_eq!(
        ev,
        vec![
            Input::Text("ab".into()),
            Input::Paste("x;y\nC-c Enter\n".into()),
            Input::Enter
        ]
    );
    // split paste markers and UTF-8
    let mut d = Decoder::new();
    let mut ev = d.feed(b"\x1b[20", false);
    ev.extend(d.feed(b"0~h\xc3", false));
    ev.extend(d.feed(b"\xa9\x1b[2", false));
    ev.extend(d.feed(b"01~", false));
    assert_eq!(ev, vec![Input::Paste("hé".into())]);
    let mut d = Decoder::new();
    assert_eq!(d.feed(b"\x1b", false), vec![]);
    assert!(d.pending());
    assert_eq!(d.feed(b"", true), vec![Input::Escape]);
    assert_eq!(
        d.feed(b"\x03\x15\x7f\x1b[A", true),
        vec![Input::CtrlC, Input::CtrlU, Input::Backspace]
    );
}

#[test]
fn script_parses_and_rejects() {
    let s = parse_script("# hi\nwaiting\ngenerating 2.5\nblocked\nrate-limited 1s\n").unwrap();
    assert_eq!(s.len(), 4);
    assert_eq!(s[1].secs, Some(2.5));
    assert!(parse_script("dancing").unwrap_err().contains("line 1"));
    assert!(parse_script("waiting x").is_err());
}

#[test]
fn a_prompt_runs_a_turn_and_returns() {
    let mut s = Sim::new(Agent::Cc, 2.0, 40);
    let a = s.key(Input::Paste("hello\nworld".into()), 0.0);
    assert_eq!(a, Action::None);
    let a = s.key(Input::Enter, 0.1);
    assert_eq!(
        a,
        Action::Submitted {
            text: "hello\nworld".into(),
            queued: false
        }
    );
    assert_eq!(s.state, SimState::Thinking);
    s.tick(1.0);
    assert_eq!(s.state, SimState::Generating);
    let screen = s.render(80, 24, 1.5).join("\n");
    assert!(screen.contains("esc to interrupt"), "{screen}");
    s.tick(2.5);
    assert_eq!(s.state, SimState::Waiting);
    let screen = s.render(80, 24, 3.0).join("\n");
    assert!(screen.contains("Cooked for"), "{screen}");
    assert!(screen.contains("Context left until auto-compact"));
}

#[test]
fn render_is_exact_size() {
    for agent in [Agent::Cc, Agent::Cod, Agent::Gmi] {
        let mut s = Sim::new(agent, 1.0, 60);
        s.enter(SimState::Blocked, None, 0.0);
        let r = s.render(50, 20, 0.0);
        assert_eq!(r.len(), 20);
        assert!(r.iter().all(|l| l.chars().count() <= 50));
    }
}

#[test]
fn hooks_and_finished_beads() {
    let s =
        parse_script("waiting\nreserve src/api/**\ngenerating 1\nrelease src/api/**\n").unwrap();
    assert_eq!(s[1].hook, Some(Hook::Reserve("src/api/**".into())));
    assert_eq!(s[3].hook, Some(Hook::Release("src/api/**".into())));
    assert!(
        parse_script("reserve")
            .unwrap_err()
            .contains("needs a pattern")
    );
    assert!(parse_script("release a b").is_err());

    let prompt = "gaffer assigned you dm-3 (P1): Add the API\n\nYour Agent Mail name is \
                  BlueLake.\nWhen you are done, `gaffer done dm-3`.";
    assert_eq!(prompt_bead(prompt).as_deref(), Some("dm-3"));
    assert_eq!(prompt_mail_name(prompt).as_deref(), Some("BlueLake"));
    assert_eq!(prompt_bead("hello"), None);

    let mut sim = Sim::new(Agent::Cod, 1.0, 50);
    sim.script = s;
    sim.next_step(0.0);
    assert_eq!(sim.state, SimState::Waiting);
    sim.key(Input::Paste(prompt.into()), 0.1);
    sim.key(Input::Enter, 0.1);
    // The prompt moved the script on: the reserve hook ran, then generating.
    assert_eq!(sim.hooks, vec![Hook::Reserve("src/api/**".into())]);
    assert_eq!(sim.state, SimState::Generating);
    assert_eq!(sim.mail_name.as_deref(), Some("BlueLake"));
    sim.hooks.clear();
    assert!(sim.finished.is_empty());
    sim.tick(1.2);
    assert_eq!(sim.state, SimState::Waiting);
    assert_eq!(sim.hooks, vec![Hook::Release("src/api/**".into())]);
    assert_eq!(sim.finished, vec!["dm-3".to_string()]);
    // A plain prompt names no bead: nothing is reported when its turn ends.
    sim.finished.clear();
    sim.key(Input::Text("hi".into()), 2.0);
    sim.key(Input::Enter, 2.0);
    sim.tick(2.5);
    sim.tick(4.0);
    assert_eq!(sim.state, SimState::Waiting);
    assert!(sim.finished.is_empty());
}

#[test]
fn the_compact_command_shows_a_spinner_then_gives_context_back() {
    for (agent, cmd, spinner) in [
        (Agent::Cc, "/compact", "Compacting conversation"),
        (Agent::Cod, "/compact", "Compacting"),
        (Agent::Gmi, "/compress", "Compressing chat history"),
    ] {
        let mut s = Sim::new(agent, 2.0, 5);
        s.key(Input::Text(cmd.into()), 0.0);
        s.key(Input::Enter, 0.1);
        assert_eq!(s.state, SimState::Generating, "{agent:?}");
        let screen = s.render(80, 24, 0.5).join("\n");
        assert!(screen.contains(spinner), "{agent:?}: {screen}");
        s.tick(1.0);
        assert_eq!(s.context_left, 5, "no context is given back before it ends");
        s.tick(0.1 + COMPACT_SECS + 0.1);
        assert_eq!(s.state, SimState::Waiting, "{agent:?}");
        assert_eq!(s.context_left, CONTEXT_AFTER_COMPACT);
        assert!(s.finished.is_empty(), "a compaction finishes no bead");
        assert_eq!(s.prompts, 0, "a compaction is not a prompt");
    }
    // Another agent's command is a plain prompt.
    let mut s = Sim::new(Agent::Gmi, 2.0, 5);
    s.key(Input::Text("/compact".into()), 0.0);
    s.key(Input::Enter, 0.1);
    assert_eq!(s.state, SimState::Thinking);
    assert_eq!(s.prompts, 1);
}
