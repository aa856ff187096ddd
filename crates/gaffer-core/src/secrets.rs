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
        c.notify.webhook_url = redact_url(&c.notify.webhook_url);
        c.mail.url = redact_url(&c.mail.url);
        c
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
        assert_eq!(r.notify.webhook_url, "https://u:<redacted>@ntfy.example/t");
        assert_eq!(
            c.notify.webhook_token, "tk_s3cret",
            "the original is untouched"
        );
    }
}
