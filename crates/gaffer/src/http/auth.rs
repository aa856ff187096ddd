//! Who may talk to `gaffer serve`.
//!
//! - The token: 256 random bits from the OS, hex, in `.gaffer/serve.token` (mode 0600, made
//!   when missing, reused otherwise; a file readable by others is refused). A client sends it
//!   as `Authorization: Bearer <token>`.
//! - A browser logs in once: `/login?t=<nonce>` takes a one-time nonce (printed at start, or
//!   minted with `POST /login-url`), sets a session cookie (`HttpOnly; SameSite=Strict`) and
//!   redirects to `/`. The cookie holds a session secret, never the token. Each session also
//!   has a CSRF token, which the cockpit page carries and sends back with every action.
//! - Every secret is compared in constant time.
//! - The `Host` header must name this server (loopback names with the port, or a name the
//!   operator allowed), which defeats DNS rebinding; a request with an `Origin` must come
//!   from such a host too.

use super::request::Request;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;

/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Random bytes in a login nonce or a session secret (128 bits).
const NONCE_BYTES: usize = 16;
/// Login nonces kept at once; minting more forgets the oldest.
const MAX_NONCES: usize = 16;
/// Browser sessions kept at once; more logins forget the oldest.
const MAX_SESSIONS: usize = 64;

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file is readable or writable by others.
    #[error(
        "{path} has mode {mode:04o}: others can read it, so the token may have leaked; delete it (a new token is made at the next start) or `chmod 600` it"
    )]
    TooOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a regular file (a symlink, a directory…).
    #[error("{0} is not a regular file; delete it (a new token is made at the next start)")]
    NotAFile(String),
    /// Someone else owns it.
    #[error("{0} belongs to another user; delete it (a new token is made at the next start)")]
    NotOwned(String),
    /// The content is not a token.
    #[error(
        "{0} does not hold a token (at least 32 hex digits); delete it (a new token is made at the next start)"
    )]
    Malformed(String),
    /// The OS random source failed.
    #[error("the OS random source failed: {0}")]
    Random(String),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// `n` random bytes from the OS, as lowercase hex.
pub fn random_hex(n: usize) -> Result<String, TokenError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Reads the token at `path`, or makes one there (mode 0600) when there is no file.
/// Returns the token and whether it was made now.
pub fn load_or_create_token(path: &Path) -> Result<(String, bool), TokenError> {
    let shown = path.display().to_string();
    let io = |source| TokenError::Io {
        path: shown.clone(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match create_token(path).map_err(io)? {
                Some(token) => Ok((token, true)),
                // Another `gaffer serve` made it just now: use that one.
                None => read_token(path, &shown),
            }
        }
        Err(e) => Err(io(e)),
        Ok(_) => read_token(path, &shown),
    }
}

/// Makes sure git ignores the token file: a `.gitignore` beside it gets its name (the file is
/// made when missing; a line is added to one without it). Returns whether it changed anything.
pub fn ignore_in_git(token: &Path) -> std::io::Result<bool> {
    let (Some(dir), Some(name)) = (token.parent(), token.file_name().and_then(|n| n.to_str()))
    else {
        return Ok(false);
    };
    let ignore = dir.join(".gitignore");
    let current = match std::fs::read_to_string(&ignore) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    if current.lines().any(|l| l.trim() == name) {
        return Ok(false);
    }
    let mut add = String::new();
    if !current.is_empty() && !current.ends_with('\n') {
        add.push('\n');
    }
    add.push_str(&format!("# gaffer serve's token is a secret\n{name}\n"));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&ignore)?;
    f.write_all(add.as_bytes())?;
    Ok(true)
}

/// Makes a token file at `path` unless one appears meanwhile (then `None`). The token is
/// written whole to a private temporary file first and then linked into place, so no reader
/// ever sees a partial file and two servers starting at once agree on one token.
fn create_token(path: &Path) -> Result<Option<String>, std::io::Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let token = random_hex(TOKEN_BYTES).map_err(std::io::Error::other)?;
    let suffix = random_hex(4).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp-{suffix}"));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask cannot widen 0600, but it may narrow it: set it exactly.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(format!("{token}\n").as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(Some(token)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the token at `path`, checking the file first.
fn read_token(path: &Path, shown: &str) -> Result<(String, bool), TokenError> {
    let shown = shown.to_string();
    let meta = std::fs::symlink_metadata(path).map_err(|source| TokenError::Io {
        path: shown.clone(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(TokenError::NotAFile(shown));
    }
    // SAFETY: geteuid takes nothing, cannot fail and touches no memory of ours.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        return Err(TokenError::NotOwned(shown));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TokenError::TooOpen { path: shown, mode });
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(|source| TokenError::Io {
            path: shown.clone(),
            source,
        })?
        .take(1024)
        .read_to_string(&mut text)
        .map_err(|_| TokenError::Malformed(shown.clone()))?;
    let token = text.trim();
    if token.len() < 2 * NONCE_BYTES || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TokenError::Malformed(shown));
    }
    Ok((token.to_ascii_lowercase(), false))
}

/// Which `Host` (and `Origin`) values name this server.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    allowed: Vec<String>,
}

impl HostPolicy {
    /// The loopback names with `bound`'s port, the bound address itself, and `extra` names
    /// (each with the port, unless it gives one).
    pub fn new(bound: SocketAddr, extra: &[String]) -> HostPolicy {
        let port = bound.port();
        let mut allowed = vec![
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ];
        if !bound.ip().is_unspecified() {
            allowed.push(bound.to_string());
        }
        for name in extra {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            let with_port = if name.rsplit_once(':').is_some_and(|(h, p)| {
                !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok()
            }) {
                name
            } else if name.contains(':') && !name.starts_with('[') {
                format!("[{name}]:{port}")
            } else {
                format!("{name}:{port}")
            };
            allowed.push(with_port);
        }
        allowed.sort();
        allowed.dedup();
        HostPolicy { allowed }
    }

    /// The accepted `Host` values.
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// `host` names this server.
    pub fn host_ok(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        self.allowed.contains(&host)
    }

    /// `origin` (`http://host:port`) is this server.
    pub fn origin_ok(&self, origin: &str) -> bool {
        origin
            .trim()
            .strip_prefix("http://")
            .is_some_and(|h| self.host_ok(h.trim_end_matches('/')))
    }
}

/// Why a request was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No credentials at all.
    Missing,
    /// Credentials that are not valid.
    Invalid,
}

/// Who a request comes from, once let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A client that sent the token (`Authorization: Bearer`): no browser sends that by itself,
    /// so its actions need no CSRF token.
    Bearer,
    /// A browser session (the login cookie), with the CSRF token its actions must carry.
    Session {
        /// The session's CSRF token.
        csrf: String,
    },
}

impl Principal {
    /// Whether `given` (the `X-Gaffer-Csrf` header) may go with an action of this principal.
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        match self {
            Principal::Bearer => true,
            Principal::Session { csrf } => {
                given.is_some_and(|g| constant_time_eq(g.trim().as_bytes(), csrf.as_bytes()))
            }
        }
    }

    /// The CSRF token for a page (empty for a bearer client).
    pub fn csrf(&self) -> &str {
        match self {
            Principal::Bearer => "",
            Principal::Session { csrf } => csrf,
        }
    }
}

/// One browser session: the cookie's secret and the session's CSRF token.
struct Session {
    secret: String,
    csrf: String,
}

/// The server's credentials: the token, the one-time login nonces and the browser sessions.
pub struct Auth {
    token: String,
    cookie: String,
    nonces: Mutex<VecDeque<String>>,
    sessions: Mutex<VecDeque<Session>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Auth {
    /// Credentials around `token`, for the server on `port` (cookies are not told apart by
    /// port, so the cookie's name carries it: two servers on one host keep their own).
    pub fn new(token: String, port: u16) -> Auth {
        Auth {
            token,
            cookie: format!("gaffer_session_{port}"),
            nonces: Mutex::new(VecDeque::new()),
            sessions: Mutex::new(VecDeque::new()),
        }
    }

    /// A new one-time login nonce.
    pub fn mint_nonce(&self) -> Result<String, TokenError> {
        let nonce = random_hex(NONCE_BYTES)?;
        let mut nonces = locked(&self.nonces);
        if nonces.len() >= MAX_NONCES {
            nonces.pop_front();
        }
        nonces.push_back(nonce.clone());
        Ok(nonce)
    }

    /// Consumes `nonce`: a new session secret when it was valid (it is then gone).
    pub fn redeem(&self, nonce: &str) -> Result<Option<String>, TokenError> {
        let found = {
            let mut nonces = locked(&self.nonces);
            let mut hit = None;
            for (i, n) in nonces.iter().enumerate() {
                if constant_time_eq(n.as_bytes(), nonce.as_bytes()) {
                    hit = Some(i);
                }
            }
            hit.and_then(|i| nonces.remove(i)).is_some()
        };
        if !found {
            return Ok(None);
        }
        let session = random_hex(NONCE_BYTES)?;
        let csrf = random_hex(NONCE_BYTES)?;
        let mut sessions = locked(&self.sessions);
        if sessions.len() >= MAX_SESSIONS {
            sessions.pop_front();
        }
        sessions.push_back(Session {
            secret: session.clone(),
            csrf,
        });
        Ok(Some(session))
    }

    /// The `Set-Cookie` value for `session`.
    pub fn set_cookie(&self, session: &str) -> String {
        format!(
            "{}={session}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie
        )
    }

    /// Checks the bearer token or the session cookie of `req`: who sent it.
    pub fn check(&self, req: &Request) -> Result<Principal, Denied> {
        let mut presented = false;
        if let Some(value) = req.header("authorization") {
            presented = true;
            let mut parts = value.trim().splitn(2, ' ');
            let scheme = parts.next().unwrap_or_default();
            let given = parts.next().unwrap_or_default().trim();
            if scheme.eq_ignore_ascii_case("bearer")
                && constant_time_eq(given.as_bytes(), self.token.as_bytes())
            {
                return Ok(Principal::Bearer);
            }
        }
        for header in req.headers_named("cookie") {
            for pair in header.split(';') {
                let Some((name, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                if name.trim() != self.cookie {
                    continue;
                }
                presented = true;
                let value = value.trim().as_bytes();
                let sessions = locked(&self.sessions);
                let mut found = None;
                for s in sessions.iter() {
                    if constant_time_eq(s.secret.as_bytes(), value) {
                        found = Some(s.csrf.clone());
                    }
                }
                if let Some(csrf) = found {
                    return Ok(Principal::Session { csrf });
                }
            }
        }
        Err(if presented {
            Denied::Invalid
        } else {
            Denied::Missing
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/agents".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..Request::default()
        }
    }

    #[test]
    fn the_token_file_is_made_private_reused_and_refused_when_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gaffer/serve.token");
        let (token, made) = load_or_create_token(&path).unwrap();
        assert!(made && token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let (again, made) = load_or_create_token(&path).unwrap();
        assert_eq!((again.as_str(), made), (token.as_str(), false));
        let (other, _) = load_or_create_token(&dir.path().join("b/serve.token")).unwrap();
        assert_ne!(other, token, "each file gets its own random token");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create_token(&path).unwrap_err();
        assert!(matches!(e, TokenError::TooOpen { mode: 0o644, .. }), "{e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "short\n").unwrap();
        assert!(matches!(
            load_or_create_token(&path),
            Err(TokenError::Malformed(_))
        ));
        let link = dir.path().join("link.token");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(
            load_or_create_token(&link),
            Err(TokenError::NotAFile(_))
        ));
    }

    #[test]
    fn git_is_told_to_ignore_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("serve.token");
        let ignore = dir.path().join(".gitignore");
        assert!(ignore_in_git(&token).unwrap());
        assert!(!ignore_in_git(&token).unwrap(), "once");
        assert_eq!(
            std::fs::read_to_string(&ignore).unwrap(),
            "# gaffer serve's token is a secret\nserve.token\n"
        );
        std::fs::write(&ignore, "state.db").unwrap();
        assert!(ignore_in_git(&token).unwrap());
        let text = std::fs::read_to_string(&ignore).unwrap();
        assert!(
            text.starts_with("state.db\n#") && text.ends_with("\nserve.token\n"),
            "{text}"
        );
    }

    #[test]
    fn servers_starting_at_once_agree_on_one_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gaffer/serve.token");
        let results: Vec<(String, bool)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_token(&path).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|(_, made)| *made).count(), 1);
        assert!(results.iter().all(|(t, _)| *t == results[0].0));
        let files: Vec<_> = std::fs::read_dir(dir.path().join(".gaffer"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, ["serve.token"], "no temporary file is left");
    }

    #[test]
    fn bearer_tokens_and_one_time_logins() {
        let token = "ab".repeat(32);
        let auth = Auth::new(token.clone(), 7878);
        assert_eq!(auth.check(&req(&[])), Err(Denied::Missing));
        let bearer = format!("Bearer {token}");
        assert_eq!(
            auth.check(&req(&[("Authorization", &bearer)])),
            Ok(Principal::Bearer)
        );
        let wrong = format!("Bearer {}", "ac".repeat(32));
        assert_eq!(
            auth.check(&req(&[("Authorization", &wrong)])),
            Err(Denied::Invalid)
        );
        let basic = format!("Basic {token}");
        assert_eq!(
            auth.check(&req(&[("Authorization", &basic)])),
            Err(Denied::Invalid)
        );
        // The token itself is no cookie.
        let as_cookie = format!("gaffer_session_7878={token}");
        assert_eq!(
            auth.check(&req(&[("Cookie", &as_cookie)])),
            Err(Denied::Invalid)
        );
        let nonce = auth.mint_nonce().unwrap();
        assert_eq!(auth.redeem("00").unwrap(), None);
        let session = auth.redeem(&nonce).unwrap().expect("a session");
        assert_eq!(auth.redeem(&nonce).unwrap(), None, "a nonce is used once");
        let set = auth.set_cookie(&session);
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/")
        );
        let cookie = format!("other=1; gaffer_session_7878={session}");
        let who = auth.check(&req(&[("Cookie", &cookie)])).unwrap();
        let Principal::Session { csrf } = &who else {
            panic!("a session: {who:?}")
        };
        assert_eq!(csrf.len(), 2 * NONCE_BYTES);
        assert_ne!(csrf, &session, "the CSRF token is not the cookie");
        assert!(who.csrf_ok(Some(csrf)) && !who.csrf_ok(None));
        assert!(!who.csrf_ok(Some(&session)) && !who.csrf_ok(Some("")));
        assert!(Principal::Bearer.csrf_ok(None));
        // Another login is another session, with its own CSRF token.
        let second = auth.redeem(&auth.mint_nonce().unwrap()).unwrap().unwrap();
        let other = auth
            .check(&req(&[(
                "Cookie",
                &format!("gaffer_session_7878={second}"),
            )]))
            .unwrap();
        assert!(!other.csrf_ok(Some(csrf)));
        // Another port's server has its own cookie.
        let elsewhere = Auth::new(token, 7879);
        assert_eq!(
            elsewhere.check(&req(&[("Cookie", &cookie)])),
            Err(Denied::Missing)
        );
        // Old nonces give way to new ones.
        let first = auth.mint_nonce().unwrap();
        for _ in 0..MAX_NONCES {
            auth.mint_nonce().unwrap();
        }
        assert_eq!(auth.redeem(&first).unwrap(), None);
    }

    #[test]
    fn hosts_and_origins() {
        let p = HostPolicy::new("127.0.0.1:7878".parse().unwrap(), &[]);
        for ok in [
            "localhost:7878",
            "127.0.0.1:7878",
            "[::1]:7878",
            "LocalHost:7878",
        ] {
            assert!(p.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example:7878",
            "localhost",
            "localhost:7879",
            "127.0.0.1",
            "",
            "localhost:7878.evil",
        ] {
            assert!(!p.host_ok(bad), "{bad}");
        }
        assert!(p.origin_ok("http://localhost:7878"));
        assert!(!p.origin_ok("http://evil.example:7878"));
        assert!(!p.origin_ok("null"));
        assert!(!p.origin_ok("https://localhost:7878.evil.example"));
        let any = HostPolicy::new(
            "0.0.0.0:80".parse().unwrap(),
            &["box.lan".into(), "10.0.0.5:8080".into(), "fe80::1".into()],
        );
        assert!(
            any.host_ok("box.lan:80")
                && any.host_ok("10.0.0.5:8080")
                && any.host_ok("[fe80::1]:80")
        );
        assert!(!any.host_ok("0.0.0.0:80") && !any.host_ok("box.lan:81"));
        let bound = HostPolicy::new("192.168.1.9:9000".parse().unwrap(), &[]);
        assert!(bound.host_ok("192.168.1.9:9000"));
    }

    #[test]
    fn constant_time_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
