//! The configuration's secrets, and how they are shown: `gaffer config show` prints the
//! configuration with each secret replaced by [`REDACTED`] (a set secret), so that its output
//! can be pasted into an issue. The secrets: `notify.webhook_token`, and the credentials a URL
//! may carry (`user:password@` and the query, where ntfy takes `?auth=`) in `notify.webhook_url`
//! and `mail.url`. (The serve token and `AGENT_MAIL_TOKEN` are never in the configuration.)

use crate::config::GafferConfig;

/// What a set secret is shown as.
pub const REDACTED: &str = "<redacted>";

impl GafferConfig {
    /// This configuration with its secrets redacted, for display only.
    pub fn redacted(&self) -> GafferConfig {
        let mut c = self.clone();
        if !c.notify.webhook_token.is_empty() {
            c.notify.webhook_token = REDACTED.to_string();
        }
        // a webhook's path is often its secret (an ntfy topic, Slack's and Discord's keys)
        c.notify.webhook_url = redact_path(&redact_url(&c.notify.webhook_url));
        if !c.notify.webhook_topic.is_empty() {
            c.notify.webhook_topic = REDACTED.to_string();
        }
        c.notify.command = redact_command(&c.notify.command);
        c.mail.url = redact_url(&c.mail.url);
        c
    }
}

/// `url` with its path (after the host) redacted, when it has one beyond `/`.
pub fn redact_path(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => return url.to_string(),
    };
    match rest.find('/') {
        Some(i) if rest.len() > i + 1 => format!("{scheme}{}/{REDACTED}", &rest[..i]),
        _ => url.to_string(),
    }
}

/// A shell command with everything after its program redacted (its arguments may carry
/// tokens: `curl -H 'Authorization: Bearer …'`).
pub fn redact_command(command: &str) -> String {
    let t = command.trim();
    match t.split_once(char::is_whitespace) {
        Some((program, _)) => format!("{program} {REDACTED}"),
        None => t.to_string(),
    }
}

/// `url` with the password of its `user:password@` (or a lone `token@`) and its query redacted;
/// anything else as it is.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{REDACTED}@{host}"),
            None => format!("{REDACTED}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) if !query.is_empty() => {
            let fragment = query.find('#').map(|i| &query[i..]).unwrap_or("");
            format!("{path}?{REDACTED}{fragment}")
        }
        _ => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_everything_but_their_credentials() {
        for (url, shown) in [
            ("", ""),
            ("http://127.0.0.1:8765/mcp/", "http://127.0.0.1:8765/mcp/"),
            (
                "https://ann:hunter2@ntfy.example/alerts",
                "https://ann:<redacted>@ntfy.example/alerts",
            ),
            (
                "https://tk_abc@ntfy.example/alerts",
                "https://<redacted>@ntfy.example/alerts",
            ),
            (
                "https://ntfy.example/alerts?auth=QmFzaWM#top",
                "https://ntfy.example/alerts?<redacted>#top",
            ),
            ("https://ntfy.example/a@b", "https://ntfy.example/a@b"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn the_webhook_token_is_redacted_only_when_set() {
        let mut c = GafferConfig::default();
        assert_eq!(c.redacted(), c, "nothing set, nothing changed");
        c.notify.webhook_token = "tk_s3cret".into();
        c.notify.webhook_url = "https://u:p@ntfy.example/t".into();
        let r = c.redacted();
        assert_eq!(r.notify.webhook_token, REDACTED);
        assert_eq!(
            r.notify.webhook_url,
            "https://u:<redacted>@ntfy.example/<redacted>"
        );
        assert_eq!(
            c.notify.webhook_token, "tk_s3cret",
            "the original is untouched"
        );
    }

    #[test]
    fn webhook_paths_topics_and_command_arguments_are_redacted() {
        let mut c = GafferConfig::default();
        c.notify.webhook_url = "https://hooks.slack.com/services/T0/B0/XXXXsecret".into();
        c.notify.webhook_topic = "my-private-topic".into();
        c.notify.command = "curl -s -H 'Authorization: Bearer tk' https://x".into();
        let r = c.redacted();
        assert_eq!(r.notify.webhook_url, "https://hooks.slack.com/<redacted>");
        assert_eq!(r.notify.webhook_topic, REDACTED);
        assert_eq!(r.notify.command, "curl <redacted>");
        assert!(!format!("{r:?}").contains("secret") && !format!("{r:?}").contains("tk'"));
        // nothing to hide stays as it is
        assert_eq!(
            redact_path("https://ntfy.example/"),
            "https://ntfy.example/"
        );
        assert_eq!(redact_path("https://ntfy.example"), "https://ntfy.example");
        assert_eq!(redact_command("notify-me"), "notify-me");
        assert_eq!(redact_command(""), "");
    }
}
