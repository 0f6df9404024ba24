//! HTTPS with a certificate given on the command line (`hone serve --tls-cert --tls-key`), for
//! a team server without a reverse proxy in front. rustls with the ring provider (no C build
//! step beyond ring's own); axum-server drives the handshakes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The PEM files of a server certificate (its chain, leaf first) and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why the certificate or key could not be used, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct TlsError {
    pub path: PathBuf,
    pub reason: String,
}

fn refused(path: &Path, reason: impl ToString) -> TlsError {
    TlsError {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

impl TlsFiles {
    /// Reads both files and checks the key is the certificate's, before the server listens.
    pub fn load(&self) -> Result<RustlsConfig, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| refused(&self.cert, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| refused(&self.cert, e))?;
        if certs.is_empty() {
            return Err(refused(
                &self.cert,
                "no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| {
            refused(
                &self.key,
                format!("{e} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)"),
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| refused(&self.cert, e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| refused(&self.key, format!("does not fit the certificate: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(RustlsConfig::from_config(Arc::new(config)))
    }
}
