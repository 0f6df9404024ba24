//! HTTPS of the server's own (`hone serve --tls-cert --tls-key`, issue 18): a team server on a
//! self-signed certificate signs in over TLS with a `Secure` session cookie, refuses plain HTTP
//! on its port, and refuses at start a key or certificate it cannot use, naming the file.

use std::path::Path;

use hone_core::accounts::Role;
use hone_server::{ServeConfig, ServeError, TlsFiles};
use serde_json::json;

mod common;

/// A self-signed certificate for 127.0.0.1 and its key, written as PEM files in `dir`; the
/// certificate's PEM for a client to trust.
fn certificate(dir: &Path) -> (TlsFiles, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let cert_pem = made.cert.pem();
    std::fs::write(&files.cert, &cert_pem).unwrap();
    std::fs::write(&files.key, made.key_pair.serialize_pem()).unwrap();
    (files, cert_pem)
}

fn team_over_tls(tls: TlsFiles) -> ServeConfig {
    ServeConfig {
        tls: Some(tls),
        ..common::loopback(None, true)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_server_serves_https_with_a_secure_session_cookie_and_refuses_plain_http() {
    let (dir, ana) = common::team_workspace().await;
    let certs = tempfile::tempdir().unwrap();
    let (files, cert_pem) = certificate(certs.path());

    let base = common::start(dir.path(), team_over_tls(files))
        .await
        .unwrap();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let signed_in = client
        .post(format!("{base}/api/session"))
        .json(&json!({ "token": ana }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let set_cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("; Secure"),
        "a session cookie over HTTPS is Secure: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let whoami = client
        .post(format!("{base}/api/whoami"))
        .header("cookie", cookie)
        .header("origin", &base)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    let account: serde_json::Value = whoami.json().await.unwrap();
    assert_eq!(account["name"], "ana", "{account}");

    // The same port over plain HTTP gets no answer from the API.
    let plain = base.replacen("https://", "http://", 1);
    let refused = reqwest::Client::new()
        .post(format!("{plain}/api/health"))
        .bearer_auth(&ana)
        .send()
        .await;
    assert!(
        refused.is_err() || !refused.as_ref().unwrap().status().is_success(),
        "plain HTTP on the TLS port must not be served: {refused:?}"
    );
    // A client that does not trust the certificate cannot connect.
    let untrusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(untrusting
        .post(format!("{base}/api/health"))
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_or_certificate_it_cannot_use_is_refused_at_start_naming_the_file() {
    let dir = common::workspace().await;
    let hone = hone_core::Hone::open(dir.path()).await.unwrap();
    hone.add_user("olivia", Role::Owner, false).await.unwrap();
    drop(hone);
    let certs = tempfile::tempdir().unwrap();
    let (files, _) = certificate(certs.path());

    // Another certificate's key.
    let elsewhere = tempfile::tempdir().unwrap();
    let (other, _) = certificate(elsewhere.path());
    let other_key = other.key;
    let mismatched = TlsFiles {
        cert: files.cert.clone(),
        key: other_key.clone(),
    };
    match common::start(dir.path(), team_over_tls(mismatched)).await {
        Err(ServeError::Tls(e)) => assert_eq!(e.path, other_key, "{e}"),
        other => panic!("a key of another certificate must be refused: {other:?}"),
    }

    // A certificate file without a certificate in it.
    let empty = certs.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let no_cert = TlsFiles {
        cert: empty.clone(),
        key: files.key.clone(),
    };
    match common::start(dir.path(), team_over_tls(no_cert)).await {
        Err(ServeError::Tls(e)) => {
            assert_eq!(e.path, empty);
            assert!(e.to_string().contains("no certificate"), "{e}");
        }
        other => panic!("a file without a certificate must be refused: {other:?}"),
    }

    // A key file that is missing.
    let missing = certs.path().join("missing-key.pem");
    let no_key = TlsFiles {
        cert: files.cert,
        key: missing.clone(),
    };
    match common::start(dir.path(), team_over_tls(no_key)).await {
        Err(ServeError::Tls(e)) => assert_eq!(e.path, missing),
        other => panic!("a missing key must be refused: {other:?}"),
    }
}
