//! One HTTP request to SIMPEL: a connection of its own (plain or TLS with
//! the system's CA bundle), the request, the answer's status, Retry-After
//! and body, all within the connector's timeout. No pool: a connection
//! SIMPEL reset or left half-read never carries a later row's request,
//! and at the outbox's rates the handshake costs nothing that matters.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where the system's CA certificates are (Debian's bundle).
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// More of an answer than this is not read.
const MAX_BODY: usize = 256 * 1024;

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// Makes requests; holds the TLS settings.
#[derive(Clone)]
pub struct Client {
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// `https` loads the CA bundle (an endpoint on https needs it).
    pub fn new(https: bool, timeout: Duration) -> anyhow::Result<Client> {
        let tls = if https {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls::pki_types::CertificateDer::pem_file_iter(CA_BUNDLE)
                .map_err(|e| anyhow::anyhow!("{CA_BUNDLE}: {e}"))?
            {
                let cert = cert.map_err(|e| anyhow::anyhow!("{CA_BUNDLE}: {e}"))?;
                // A certificate rustls cannot use is skipped, not fatal.
                let _ = roots.add(cert);
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        Ok(Client { tls, timeout })
    }

    /// Sends `method url` with `headers` and `body`; `Err` is no answer
    /// (refused, reset, timed out), with why.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<(String, &str)>,
    ) -> Result<Answer, String> {
        match tokio::time::timeout(self.timeout, self.exchange(method, url, headers, body)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<(String, &str)>,
    ) -> Result<Answer, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or_else(|| format!("{url}: no host"))?
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let authority = uri
            .authority()
            .map_or(host.clone(), |a| a.as_str().to_string());
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", authority)
            .header("user-agent", "dering-syncd");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = match body {
            Some((b, content_type)) => req
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(b))),
            None => req.body(Full::new(Bytes::new())),
        }
        .map_err(|e| format!("request: {e}"))?;
        if https {
            let tls = self
                .tls
                .as_ref()
                .ok_or_else(|| "https without TLS settings".to_string())?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("{host}: {e}"))?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            round_trip(TokioIo::new(stream), req).await
        } else {
            round_trip(TokioIo::new(tcp), req).await
        }
    }
}

async fn round_trip<T>(io: T, req: hyper::Request<Full<Bytes>>) -> Result<Answer, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let driver = tokio::spawn(conn);
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("answer body: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
    .await;
    driver.abort();
    result
}
