//! Tests of the human's controls with plain values and the screen fixtures.

use super::*;
use crate::cycle::Stage;
use crate::time::parse_rfc3339;

fn t(secs: i64) -> Timestamp {
    parse_rfc3339("2026-01-01T12:00:00Z").unwrap() + chrono::Duration::seconds(secs)
}

fn labels(d: &Dialog) -> Vec<(u32, &str, bool)> {
    d.options
        .iter()
        .map(|o| (o.number, o.label.as_str(), o.selected))
        .collect()
}

#[test]
fn reads_claude_code_s_permission_dialog_with_its_text() {
    let d = read_dialog(include_str!(
        "../../tests/screens/cc/real_2.1.197_blocked_permission.txt"
    ))
    .unwrap();
    assert_eq!(
        labels(&d),
        [
            (1, "Yes", true),
            (
                2,
                "Yes, allow all edits during this session (shift+tab)",
                false
            ),
            (3, "No", false)
        ]
    );
    assert_eq!(
        d.text,
        [
            "Create file",
            "gaffer-note.txt",
            "1 written by the scripted model",
            "Do you want to create gaffer-note.txt?"
        ]
    );
}

#[test]
fn reads_codex_s_approval_with_blank_lines_inside() {
    let d = read_dialog(include_str!("../../tests/screens/cod/blocked_command.txt")).unwrap();
    assert_eq!(d.options.len(), 3);
    assert_eq!(d.options[0].label, "Yes, proceed (y)");
    assert!(d.options[0].selected);
    assert_eq!(
        d.text,
        [
            "Would you like to run the following command?",
            "",
            "Reason: remove stale build artifacts",
            "",
            "$ rm -rf build"
        ]
    );
}

#[test]
fn reads_gemini_s_boxed_dialog_without_its_borders() {
    let d = read_dialog(include_str!("../../tests/screens/gmi/blocked_edit.txt")).unwrap();
    assert_eq!(
        labels(&d),
        [
            (1, "Yes, allow once", true),
            (2, "Yes, allow always", false),
            (3, "Modify with external editor", false),
            (4, "No, suggest changes (esc)", false)
        ]
    );
    assert_eq!(
        d.text.first().map(String::as_str),
        Some("?  Edit README.md: teh => the ←")
    );
    assert_eq!(
        d.text.last().map(String::as_str),
        Some("Apply this change?")
    );
    // The shell dialog has 14 empty rows and a spinner line below it.
    let d = read_dialog(include_str!("../../tests/screens/gmi/blocked_shell.txt")).unwrap();
    assert_eq!(d.options.len(), 3);
    assert_eq!(
        d.text.last().map(String::as_str),
        Some("Allow execution of: 'rm'?")
    );
}

#[test]
fn a_numbered_list_in_the_transcript_is_no_dialog() {
    for screen in [
        include_str!("../../tests/screens/cc/real_idle.txt"),
        "Plan:\n1. parse\n2. check\n3. write\n\nI will do it now.\n✻ Working…\nline\nline\nline\nline\nline\n> \n",
        "",
        "  2. a second option without a first\n  3. and a third\n",
    ] {
        assert_eq!(read_dialog(screen), None, "{screen:?}");
    }
}

#[test]
fn escapes_in_a_dialog_are_stripped() {
    let d = read_dialog("Run \x1b[31mrm\x1b[0m?\n\x1b[1m❯ 1. Yes\x1b[0m\n  2. No\n").unwrap();
    assert_eq!(d.text, ["Run rm?"]);
    assert_eq!(d.options[0].label, "Yes");
}

fn dialog(labels: &[&str]) -> Dialog {
    Dialog {
        text: vec!["Proceed?".into()],
        options: labels
            .iter()
            .enumerate()
            .map(|(i, l)| DialogOption {
                number: i as u32 + 1,
                label: (*l).into(),
                selected: i == 0,
            })
            .collect(),
    }
}

#[test]
fn an_answer_needs_a_blocked_agent_the_same_dialog_and_one_of_its_options() {
    let shown = dialog(&["Yes", "No"]);
    let mut moved = shown.clone();
    moved.options[0].selected = false;
    moved.options[1].selected = true;
    // The cursor moving is still the same dialog.
    assert_eq!(
        choose("%1", AgentStatus::Blocked, Some(&moved), Some(&shown), 2).map(|o| &o.label),
        Ok(&"No".to_string())
    );
    assert!(matches!(
        choose("%1", AgentStatus::Waiting, Some(&shown), None, 1),
        Err(ControlError::NotBlocked { .. })
    ));
    assert_eq!(
        choose("%1", AgentStatus::Blocked, None, Some(&shown), 1),
        Err(ControlError::NoDialog("%1".into()))
    );
    let other = dialog(&["Yes", "Yes, always", "No"]);
    assert_eq!(
        choose("%1", AgentStatus::Blocked, Some(&other), Some(&shown), 1),
        Err(ControlError::DialogChanged("%1".into()))
    );
    let err = choose("%1", AgentStatus::Blocked, Some(&shown), None, 3).unwrap_err();
    assert_eq!(
        err.to_string(),
        "option 3 is not one of the dialog's (1, 2)"
    );
}

#[test]
fn pauses_cover_one_agent_or_all() {
    let mut p = Pauses::default();
    assert!(!p.is_paused("%1"));
    p.panes.insert("%1".into());
    assert!(p.is_paused("%1") && !p.is_paused("%2"));
    p.all = true;
    assert!(p.is_paused("%2"));
    assert_eq!(PauseTarget::All.key(), "*");
    assert_eq!(PauseTarget::Pane("%3".into()).key(), "%3");
}

fn live(id: i64, bead: &str, pane: &str) -> ActiveAssignment {
    ActiveAssignment {
        id,
        bead_id: bead.into(),
        pane_id: pane.into(),
        agent_name: String::new(),
        stage: Stage::Working,
        updated_at: t(0),
        claimed: true,
        reserved: vec!["src/a.rs".into()],
    }
}

fn agent(pane: &str, status: AgentStatus) -> AgentState {
    let mut a = AgentState::new(pane, 1, "cc", t(0));
    a.status = status;
    a.healthy = true;
    a
}

#[test]
fn unassign_hands_the_live_assignment_back_without_a_back_off() {
    let active = [live(1, "b-1", "%1"), live(2, "b-2", "%2")];
    match unassign(&active, "b-2", AgentStatus::Generating) {
        Ok(Decision::HandBack {
            assignment,
            status,
            back_off,
            reason,
        }) => {
            assert_eq!(assignment.id, 2);
            assert_eq!(status, AgentStatus::Generating);
            assert!(!back_off);
            assert_eq!(reason, "unassigned by a human");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        unassign(&active, "b-9", AgentStatus::Waiting).unwrap_err(),
        ControlError::NotAssigned("b-9".into())
    );
}

fn bead(id: &str) -> BeadRef {
    BeadRef {
        id: id.into(),
        title: format!("Fix src/{id}.rs"),
        description: "details".into(),
        priority: 1,
    }
}

#[test]
fn reassign_hands_back_then_assigns_to_the_waiting_target() {
    let active = [live(1, "b-1", "%1")];
    let target = agent("%2", AgentStatus::Waiting);
    let ds = reassign(&active, &bead("b-1"), &target, t(5)).unwrap();
    assert_eq!(ds.len(), 2);
    assert!(
        matches!(&ds[0], Decision::HandBack { assignment, back_off: false, .. } if assignment.pane_id == "%1")
    );
    match &ds[1] {
        Decision::Assign(o) => {
            assert_eq!(o.agent.pane_id, "%2");
            assert_eq!(o.assignment.bead_id, "b-1");
            assert_eq!(o.assignment.files_to_reserve, ["src/b-1.rs"]);
            assert_eq!(o.bead.extra["description"], "details");
            assert_eq!(o.assignment.assigned_at, t(5));
        }
        other => panic!("{other:?}"),
    }
    // A bead nobody holds is simply assigned.
    let ds = reassign(&active, &bead("b-7"), &target, t(5)).unwrap();
    assert!(matches!(ds.as_slice(), [Decision::Assign(_)]));
}

#[test]
fn reassign_refuses_a_busy_or_occupied_target() {
    let active = [live(1, "b-1", "%1"), live(2, "b-2", "%2")];
    let why = |r: Result<Vec<Decision>, ControlError>| r.unwrap_err().to_string();
    assert!(
        why(reassign(
            &active,
            &bead("b-1"),
            &agent("%2", AgentStatus::Waiting),
            t(0)
        ))
        .contains("holds another assignment")
    );
    assert!(
        why(reassign(
            &active,
            &bead("b-1"),
            &agent("%1", AgentStatus::Waiting),
            t(0)
        ))
        .contains("already holds b-1")
    );
    assert!(
        why(reassign(
            &active,
            &bead("b-1"),
            &agent("%3", AgentStatus::Blocked),
            t(0)
        ))
        .contains("it is BLOCKED")
    );
}
