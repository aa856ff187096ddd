//! The `Mailbox` port: Agent Mail operations (the Agent Mail issue fills this in).
