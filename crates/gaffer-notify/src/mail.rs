//! Agent Mail to the human: each notification is a message to `human_agent` (or `mail_to`).

use crate::channel::{Channel, SendError};
use gaffer_core::mailbox::{AgentRegistration, Importance, Mailbox, OutgoingMessage};
use gaffer_core::notify::Notification;
use std::sync::Arc;

/// The Agent Mail channel.
pub struct MailChannel {
    mailbox: Arc<dyn Mailbox>,
    project: String,
    sender: String,
    to: String,
    /// The names the mailbox granted (sender, recipient), once registered.
    granted: Option<(String, String)>,
}

impl MailChannel {
    /// Messages from `sender` to `to` in `project` (its key, as the coordinator uses it).
    pub fn new(mailbox: Arc<dyn Mailbox>, project: &str, sender: &str, to: &str) -> MailChannel {
        MailChannel {
            mailbox,
            project: project.to_string(),
            sender: sender.to_string(),
            to: to.to_string(),
            granted: None,
        }
    }

    /// The sender and recipient names the mailbox granted, once the first message went out (a
    /// name it does not accept, like `Human`, is replaced by one it grants).
    pub fn granted(&self) -> Option<(String, String)> {
        self.granted.clone()
    }

    fn register(&mut self) -> Result<(String, String), SendError> {
        if let Some(g) = &self.granted {
            return Ok(g.clone());
        }
        let err = |e: gaffer_core::mailbox::MailError| SendError::Transient(e.to_string());
        self.mailbox.ensure_project(&self.project).map_err(err)?;
        let reg = |name: &str, program: &str, what: &str| AgentRegistration {
            name: Some(name.to_string()),
            program: program.into(),
            model: program.into(),
            task_description: what.into(),
        };
        let sender = self
            .mailbox
            .register_agent(
                &self.project,
                &reg(&self.sender, "gaffer", "gaffer's notifications"),
            )
            .map_err(err)?;
        let to = self
            .mailbox
            .register_agent(
                &self.project,
                &reg(&self.to, "human", "the human overseeing the agents"),
            )
            .map_err(err)?;
        let g = (sender.name, to.name);
        self.granted = Some(g.clone());
        Ok(g)
    }
}

impl Channel for MailChannel {
    fn name(&self) -> &str {
        "mail"
    }

    fn send(&mut self, n: &Notification) -> Result<(), SendError> {
        let (sender, to) = self.register()?;
        let importance = match n.priority {
            0..=2 => Importance::Low,
            3 => Importance::Normal,
            4 => Importance::High,
            _ => Importance::Urgent,
        };
        let msg = OutgoingMessage {
            sender,
            to: vec![to],
            subject: n.title.clone(),
            body_md: format!(
                "{}\n\n_kind `{}`{}, {}_",
                n.message,
                n.kind,
                if n.agent_id.is_empty() {
                    String::new()
                } else {
                    format!(", agent `{}`", n.agent_id)
                },
                gaffer_core::time::format_rfc3339(&n.timestamp)
            ),
            importance,
            ..Default::default()
        };
        self.mailbox
            .send_message(&self.project, &msg)
            .map(|_| ())
            .map_err(|e| SendError::Transient(e.to_string()))
    }
}
