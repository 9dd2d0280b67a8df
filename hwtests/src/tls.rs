//! TLS to the box for tests and benches: a client trusting only the
//! box's own certificate (its `tls/cert.pem`), so every TLS test also
//! proves the certificate names `localhost`. One client for HTTPS to
//! webd and SIP over TLS to pbxd.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// A TLS stream to the box.
pub type Stream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `addr` trusting only `cert_pem`; reads time out
/// after `read_timeout` so a stuck stream fails instead of hanging. The
/// handshake happens with the first read or write.
pub fn connect(addr: impl ToSocketAddrs, cert_pem: &[u8], read_timeout: Duration) -> Stream {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    let _ = tcp.set_nodelay(true);
    tcp.set_read_timeout(Some(read_timeout)).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// [`connect`] to box `d`'s SIP over TLS, with its certificate.
pub fn to_sip(d: &crate::Dering, read_timeout: Duration) -> Stream {
    let pem = std::fs::read(d.dir().join("tls/cert.pem")).unwrap();
    connect(d.tls_addr(), &pem, read_timeout)
}
