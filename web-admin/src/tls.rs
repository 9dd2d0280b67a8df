//! HTTPS with the box's certificate: `<data>/tls/cert.pem` and `key.pem`,
//! the same pair pbxd serves SIP over TLS with, generated self-signed at
//! first start by whichever daemon starts first (rcgen). An administrator
//! replaces it by uploading a certificate and key (`install`), which takes
//! effect for new connections without a restart (decision 0017).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("private key: {0}")]
    Key(String),
    #[error("the key does not match the certificate, or they are unusable: {0}")]
    Mismatch(String),
    #[error("generating a certificate: {0}")]
    Generate(String),
}

/// The directory of the box's certificate.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tls")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `data` to `path` through a temporary file and a rename, so a
/// reader never sees half a file; keys readable by the owner only.
fn write_atomic(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Generates the self-signed certificate when there is none.
pub fn ensure(data_dir: &Path) -> Result<(), TlsError> {
    let d = dir(data_dir);
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&d).map_err(io(&d))?;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let mut names = vec![
        "localhost".to_owned(),
        "dering.local".to_owned(),
        "127.0.0.1".to_owned(),
    ];
    if !host.is_empty() {
        names.push(host);
    }
    let ck =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    write_atomic(&key, ck.key_pair.serialize_pem().as_bytes(), true)?;
    write_atomic(&cert, ck.cert.pem().as_bytes(), false)?;
    tracing::info!(path = %cert.display(), "generated the box's self-signed certificate");
    Ok(())
}

/// A server configuration from PEM text (checks that they match).
pub fn config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ServerConfig, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(format!("{e:?}")))?;
    if certs.is_empty() {
        return Err(TlsError::Certificate(
            "no certificate in the PEM text".into(),
        ));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(format!("{e:?}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TlsError::Mismatch(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The server configuration of the box's certificate (generated if none).
pub fn load(data_dir: &Path) -> Result<rustls::ServerConfig, TlsError> {
    ensure(data_dir)?;
    let d = dir(data_dir);
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    let c = std::fs::read(&cert).map_err(io(&cert))?;
    let k = std::fs::read(&key).map_err(io(&key))?;
    config_from_pem(&c, &k)
}

/// Replaces the box's certificate with an uploaded one, after checking
/// that it parses and matches its key. Returns the new configuration.
pub fn install(
    data_dir: &Path,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<rustls::ServerConfig, TlsError> {
    let config = config_from_pem(cert_pem, key_pem)?;
    let d = dir(data_dir);
    std::fs::create_dir_all(&d).map_err(io(&d))?;
    write_atomic(&d.join("key.pem"), key_pem, true)?;
    write_atomic(&d.join("cert.pem"), cert_pem, false)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_start_generates_a_usable_certificate_and_a_mismatched_upload_is_refused() {
        let d = tempfile::tempdir().unwrap();
        load(d.path()).unwrap();
        let key = std::fs::read(dir(d.path()).join("key.pem")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir(d.path()).join("key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key readable by others");
        }
        let other = rcgen::generate_simple_self_signed(vec!["x.example".into()]).unwrap();
        let e = install(d.path(), other.cert.pem().as_bytes(), &key).unwrap_err();
        assert!(matches!(e, TlsError::Mismatch(_)), "{e}");
        assert!(matches!(
            install(d.path(), b"junk", &key),
            Err(TlsError::Certificate(_))
        ));
        // The box's files are untouched by the refused uploads.
        load(d.path()).unwrap();
        install(
            d.path(),
            other.cert.pem().as_bytes(),
            other.key_pair.serialize_pem().as_bytes(),
        )
        .unwrap();
        let now = std::fs::read_to_string(dir(d.path()).join("cert.pem")).unwrap();
        assert_eq!(now, other.cert.pem());
    }
}
