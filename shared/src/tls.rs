//! TLS server configuration: the operator's PEM certificate and key, or a self-signed
//! certificate for `server.hostname` made in the data directory on first start.
//! TLS 1.2 and 1.3 only, aws-lc-rs provider only.

use mailroom_config::Config;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{key}: {path}: {why}")]
    Pem {
        /// Config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// rustls refused the certificate/key pair.
    #[error("tls: certificate and key do not form a usable pair: {0}")]
    Rustls(#[from] rustls::Error),
    /// The self-signed certificate could not be made or stored.
    #[error("tls: cannot make the self-signed certificate: {0}")]
    SelfSigned(String),
}

/// Install aws-lc-rs as the process's rustls provider; harmless when already installed.
/// Call first thing in `main`, so that no dependency turning on `ring` can make rustls panic.
pub fn install_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Build the acceptor for `config`: its `[tls]` files, else the self-signed pair.
pub fn acceptor(config: &Config) -> Result<TlsAcceptor, TlsError> {
    let (cert_path, key_path) = match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => self_signed(&config.server.data_dir, &config.server.hostname)?,
    };
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error("tls.cert", &cert_path, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error(
            "tls.cert",
            &cert_path,
            "no certificate in file".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| pem_error("tls.key", &key_path, e.to_string()))?;
    // rustls offers only TLS 1.2 and 1.3 with its default versions: nothing older exists.
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

fn pem_error(key: &'static str, path: &Path, why: String) -> TlsError {
    TlsError::Pem {
        key,
        path: path.to_path_buf(),
        why,
    }
}

/// Paths of the self-signed pair for `hostname`, made if missing. The name is part of the file
/// name so that changing `server.hostname` yields a certificate for the new name.
fn self_signed(data_dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let dir = data_dir.join("tls");
    let cert = dir.join(format!("{hostname}.selfsigned.crt"));
    let key = dir.join(format!("{hostname}.selfsigned.key"));
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let fail = |e: &dyn std::fmt::Display| TlsError::SelfSigned(e.to_string());
    crate::fsutil::create_private_dir(data_dir).map_err(|e| fail(&e))?;
    crate::fsutil::create_private_dir(&dir).map_err(|e| fail(&e))?;
    let made =
        rcgen::generate_simple_self_signed(vec![hostname.to_string()]).map_err(|e| fail(&e))?;
    crate::fsutil::write_durably(
        &key,
        made.signing_key.serialize_pem().as_bytes(),
        crate::fsutil::PRIVATE_FILE_MODE,
    )
    .map_err(|e| fail(&e))?;
    // Public, but everything under the data directory is 0600 (one rule, checked at start).
    crate::fsutil::write_durably(
        &cert,
        made.cert.pem().as_bytes(),
        crate::fsutil::PRIVATE_FILE_MODE,
    )
    .map_err(|e| fail(&e))?;
    tracing::info!(cert = %cert.display(), "made a self-signed certificate");
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_and_reused() {
        install_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.server.data_dir = dir.path().to_path_buf();
        acceptor(&config).expect("first start makes a certificate");
        let cert = dir.path().join("tls/mail.example.test.selfsigned.crt");
        let first = std::fs::read(&cert).expect("cert written");
        acceptor(&config).expect("second start reuses it");
        assert_eq!(std::fs::read(&cert).expect("cert"), first);
    }

    #[test]
    fn unreadable_files_name_the_key() {
        install_provider();
        let mut config = Config::default();
        config.tls.cert = Some("/nonexistent/cert.pem".into());
        config.tls.key = Some("/nonexistent/key.pem".into());
        let err = acceptor(&config).err().expect("must fail");
        assert!(err.to_string().starts_with("tls.cert:"), "{err}");
    }
}
