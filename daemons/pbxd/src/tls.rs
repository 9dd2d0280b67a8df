//! TLS for SIP (rustls). A self-signed certificate is generated at first
//! start under `<data>/tls/` so a new box speaks TLS at once; replace the
//! files with a real certificate to have phones verify it. As a client
//! (connections the box opens, [`crate::dial`]) it verifies the server's
//! certificate against a given CA file or the system's roots.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub fn acceptor(dir: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !cert_path.exists() || !key_path.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "dering.local".to_string(),
        ])?;
        std::fs::write(&key_path, ck.key_pair.serialize_pem())
            .with_context(|| format!("writing {}", key_path.display()))?;
        std::fs::write(&cert_path, ck.cert.pem())
            .with_context(|| format!("writing {}", cert_path.display()))?;
        tracing::info!(path = %cert_path.display(), "generated a self-signed TLS certificate");
    }
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("reading {}", cert_path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The system's trusted roots: Debian's bundle (the `ca-certificates`
/// package), one PEM file. Read rather than compiled in, so the box's
/// updates of that package reach pbxd.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A client configuration trusting the CA certificates (PEM) in `ca`, or
/// the system's roots without one. A file without a usable certificate is
/// an error: trusting nothing would fail every connection later and less
/// clearly.
pub fn client_config(ca: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let path = ca.unwrap_or(Path::new(SYSTEM_ROOTS));
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        anyhow::bail!("no CA certificate in {}", path.display());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA file is trusted as given; a file with no certificate in it is
    /// refused when read, not at the first handshake.
    #[test]
    fn a_ca_file_is_read_and_an_empty_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let ck = rcgen::generate_simple_self_signed(vec!["ca.example".to_string()]).unwrap();
        std::fs::write(&ca, ck.cert.pem()).unwrap();
        assert!(client_config(Some(&ca)).is_ok());
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = format!("{:#}", client_config(Some(&empty)).unwrap_err());
        assert!(err.contains("no CA certificate"), "{err}");
        assert!(client_config(Some(&dir.path().join("missing.pem"))).is_err());
    }
}
