//! A request whose body no handler read ends its connection openly.
//!
//! hyper closes an HTTP/1.1 connection after answering a request whose
//! body was left unread (a 401 before the JSON extractor, a 415 for the
//! wrong content type, a handler that ignores the body), so the unread
//! bytes cannot be mistaken for the next request. It does so without
//! saying it: the client keeps the connection for its next request and
//! finds it dead. A GET is retried by most clients; a POST is not, and
//! fails ("EOF occurred in violation of protocol" in Schemathesis, a
//! spurious error in an integration's log). This layer watches whether
//! the body reached its end and, when not, answers `Connection: close`,
//! so clients open a new connection instead.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Version};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// A request body that records when it has been read to its end.
struct Watched {
    inner: Body,
    ended: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let at_end = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if at_end {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: `Connection: close` on the answer to an HTTP/1.1 request
/// whose body the handler left unread.
pub async fn close_if_unread(req: Request, next: Next) -> Response {
    if req.version() != Version::HTTP_11 || req.body().is_end_stream() {
        return next.run(req).await;
    }
    let ended = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let watched = Watched {
        inner: body,
        ended: Arc::clone(&ended),
    };
    let mut res = next
        .run(Request::from_parts(parts, Body::new(watched)))
        .await;
    if !ended.load(Ordering::Acquire) {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use axum::routing::post;
    use axum::Router;

    use super::*;

    /// A server on 127.0.0.1 with one route that reads its body and one
    /// that answers without reading it (as a refused login would).
    async fn serve() -> std::net::SocketAddr {
        let app = Router::new()
            .route(
                "/read",
                post(|body: String| async move { body.len().to_string() }),
            )
            .route("/ignore", post(|| async { "refused" }))
            .layer(axum::middleware::from_fn(close_if_unread));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// Sends a POST of `len` bytes to `path`, then a second request on the
    /// same connection; everything the server sent back.
    fn two_requests(addr: std::net::SocketAddr, path: &str, len: usize) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let body = vec![b'a'; len];
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n"
        );
        // The server may close before the whole body is written.
        let _ = s
            .write_all(head.as_bytes())
            .and_then(|()| s.write_all(&body));
        let _ = s.write_all(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.windows(4).filter(|w| *w == b"\r\n\r\n").count() >= 2
                && String::from_utf8_lossy(&got).ends_with('2')
            {
                break;
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unread_body_is_answered_with_connection_close() {
        let addr = serve().await;
        let text = tokio::task::spawn_blocking(move || two_requests(addr, "/ignore", 300_000))
            .await
            .unwrap();
        let first = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(first.starts_with("http/1.1 200"), "{text}");
        assert!(first.contains("connection: close"), "{first}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_body_keeps_the_connection_for_the_next_request() {
        let addr = serve().await;
        let text = tokio::task::spawn_blocking(move || two_requests(addr, "/read", 300_000))
            .await
            .unwrap();
        assert!(
            !text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    }
}
