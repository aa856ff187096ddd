//! The webhook over https against a real TLS server on loopback: the test makes its own CA and a
//! server certificate for 127.0.0.1 (rcgen), serves https with rustls on the testkit's
//! receiver, and points the webhook channel at it with `webhook_ca_file`.

use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType as T};
use gaffer_core::notify::{Notification, NotifyConfig, WebhookFormat};
use gaffer_notify::webhook::Webhook;
use gaffer_notify::{Channel, Outbox, RetryPolicy, SendError, Sink, setup};
use gaffer_testkit::webhook::{Conn, Receiver, Reply};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A CA made for the test, and a server certificate for 127.0.0.1 signed by it.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("gaffer test CA {name}"));
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap_or_else(|e| panic!("{e}"));
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    let cert = params
        .signed_by(&key, &ca)
        .unwrap_or_else(|e| panic!("{e}"));
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // ring, the provider ureq's client uses (rustls 0.23.48 deprecates it for lacking
    // post-quantum key exchange, which this test does not need).
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap_or_else(|e| panic!("{e}"));
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// An https receiver on 127.0.0.1 with the server certificate of `pki`.
fn https_receiver(pki: &Pki, then: Reply) -> Receiver {
    let cfg = Arc::clone(&pki.server);
    Receiver::start_with(
        vec![],
        then,
        "https",
        Arc::new(move |tcp| {
            let conn = rustls::ServerConnection::new(Arc::clone(&cfg)).ok()?;
            Some(Box::new(rustls::StreamOwned::new(conn, tcp)) as Box<dyn Conn>)
        }),
    )
}

fn ca_file(dir: &tempfile::TempDir, pki: &Pki) -> PathBuf {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &pki.ca_pem).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn note() -> Notification {
    let mut n = Notification::test("notes", chrono::Utc::now());
    n.title = "gaffer [notes]: %3 (cc) BLOCKED".into();
    n.message = "%3 (cc) has waited for a human for 2m00s".into();
    n.priority = 4;
    n.tags = vec!["warning".into(), "robot".into()];
    n
}

fn sink() -> (Sink, Arc<Mutex<Vec<CoordinatorEvent>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    let sink: Sink = Arc::new(move |e| {
        if let Ok(mut v) = g.lock() {
            v.push(e);
        }
    });
    (sink, got)
}

fn events(got: &Arc<Mutex<Vec<CoordinatorEvent>>>) -> Vec<CoordinatorEvent> {
    got.lock().map(|v| v.clone()).unwrap_or_default()
}

/// The channels `[notify]` builds for a webhook at `url`.
fn configured(url: &str, format: WebhookFormat, ca: &str) -> Vec<(Box<dyn Channel>, RetryPolicy)> {
    let cfg = NotifyConfig {
        webhook_url: url.to_string(),
        webhook_format: format,
        webhook_topic: "gaffer-alerts".into(),
        webhook_token: "s3cret".into(),
        webhook_ca_file: ca.to_string(),
        webhook_timeout: Duration::from_secs(3),
        webhook_backoff: Duration::from_millis(50),
        ..NotifyConfig::default()
    };
    setup::channels(&cfg, None)
}

#[test]
fn an_https_webhook_with_webhook_ca_file_posts_json_and_the_ntfy_form() {
    let pki = pki("good");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = ca_file(&dir, &pki);
    let rx = https_receiver(&pki, Reply::Status(200));
    assert!(rx.url.starts_with("https://127.0.0.1:"), "{}", rx.url);

    // JSON, through the channel `[notify]` builds.
    let mut chans = configured(&rx.url, WebhookFormat::Json, &ca.display().to_string());
    assert_eq!(chans.len(), 1);
    assert_eq!(chans[0].0.name(), "webhook");
    chans[0].0.send(&note()).unwrap_or_else(|e| panic!("{e}"));
    let r = &rx.wait_for(1)[0];
    assert!(r.head.starts_with("POST /gaffer HTTP/1.1"), "{}", r.head);
    assert_eq!(r.header("authorization").as_deref(), Some("Bearer s3cret"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let body: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    assert_eq!(body["topic"], "gaffer-alerts");
    assert_eq!(body["title"], "gaffer [notes]: %3 (cc) BLOCKED");
    assert_eq!(body["message"], "%3 (cc) has waited for a human for 2m00s");
    assert_eq!(body["priority"], 4);
    assert_eq!(body["tags"], serde_json::json!(["warning", "robot"]));

    // ntfy's plain form: the message as the body, its fields as headers.
    let mut hook = Webhook::new(&rx.url, WebhookFormat::Ntfy, "", "", Duration::from_secs(3))
        .with_ca_file(&ca.display().to_string());
    hook.send(&note()).unwrap_or_else(|e| panic!("{e}"));
    let r = &rx.wait_for(2)[1];
    assert_eq!(r.body, "%3 (cc) has waited for a human for 2m00s");
    assert_eq!(
        r.header("title").as_deref(),
        Some("gaffer [notes]: %3 (cc) BLOCKED")
    );
    assert_eq!(r.header("priority").as_deref(), Some("4"));
    assert_eq!(r.header("tags").as_deref(), Some("warning,robot"));
    assert!(r.header("authorization").is_none());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );

    // Plain http keeps working beside it.
    let plain = Receiver::start(vec![], Reply::Status(200));
    let mut hook = Webhook::new(
        &plain.url,
        WebhookFormat::Json,
        "",
        "",
        Duration::from_secs(3),
    );
    hook.send(&note()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain.wait_for(1).len(), 1);
}

#[test]
fn an_untrusted_certificate_is_one_clear_failure_naming_the_channel_never_a_hang() {
    let other = pki("other");
    let pki = pki("server");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let wrong_ca = ca_file(&dir, &other);
    let rx = https_receiver(&pki, Reply::Status(200));

    // Mozilla's roots alone, then a CA file of another CA: the same refusal.
    for ca in ["", wrong_ca.to_str().unwrap_or_default()] {
        let mut chans = configured(&rx.url, WebhookFormat::Json, ca);
        let (channel, retry) = chans.remove(0);
        assert_eq!(retry.tries, 4);
        let (s, got) = sink();
        let out = Outbox::start(channel, retry, 8, s);
        let started = Instant::now();
        assert!(out.offer(note()));
        assert!(out.offer(note()));
        assert!(out.flush(Duration::from_secs(20)), "the outbox hung");
        let stats = out.stop(Duration::from_secs(2));
        assert!(started.elapsed() < Duration::from_secs(10));
        // Not worth another try: one try each, both failed, reported once.
        assert_eq!((stats.tries, stats.failed, stats.delivered), (2, 2, 0));
        let ev = events(&got);
        assert_eq!(ev.len(), 1, "{ev:#?}");
        assert_eq!(ev[0].event_type, T::NotifyFailed);
        assert_eq!(ev[0].details["channel"], "webhook");
        let err = ev[0].details["error"].as_str().unwrap_or_default();
        assert!(
            err.contains(&rx.url)
                && err.contains("certificate is not trusted")
                && err.contains("UnknownIssuer")
                && err.contains("webhook_ca_file"),
            "{err}"
        );
    }
    assert!(
        rx.requests().is_empty(),
        "no request went over a bad session"
    );
}

#[test]
fn an_unusable_ca_file_fails_each_send_with_the_reason() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("nope.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap_or_else(|e| panic!("{e}"));
    for (path, needle) in [
        (&missing, "cannot read it"),
        (&empty, "holds no certificate"),
    ] {
        let mut hook = Webhook::new(
            "https://127.0.0.1:9/x",
            WebhookFormat::Json,
            "",
            "",
            Duration::from_secs(1),
        )
        .with_ca_file(&path.display().to_string());
        match hook.send(&note()) {
            Err(SendError::Permanent(e)) => {
                assert!(e.contains("webhook_ca_file") && e.contains(needle), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}
