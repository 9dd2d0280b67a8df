//! Sends a recording's file: whole (200) or the byte range the `<audio>`
//! element asked for (206 with `Content-Range`), streamed from disk in
//! chunks so an hour-long recording never sits in webd's memory, and
//! each playback or download reads its own file handle (several people
//! can listen to one call at once).

use std::path::Path;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::range::{slice, Slice};
use super::recordings::Format;

const CHUNK: usize = 64 * 1024;

/// How the file is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition<'a> {
    /// Played in the page.
    Inline,
    /// Saved as `name`.
    Attachment(&'a str),
}

/// The response for `path` given the request's `Range` header.
pub async fn file(
    path: &Path,
    format: Format,
    range: Option<&str>,
    disposition: Disposition<'_>,
) -> std::io::Result<Response> {
    let mut f = tokio::fs::File::open(path).await?;
    let len = f.metadata().await?.len();
    let (status, start, count, content_range) = match slice(range, len) {
        Slice::Whole => (StatusCode::OK, 0, len, None),
        Slice::Part { start, end } => (
            StatusCode::PARTIAL_CONTENT,
            start,
            end - start + 1,
            Some(format!("bytes {start}-{end}/{len}")),
        ),
        Slice::Unsatisfiable => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            insert(&mut r, header::CONTENT_RANGE, &format!("bytes */{len}"));
            return Ok(r);
        }
    };
    f.seek(std::io::SeekFrom::Start(start)).await?;
    let stream = futures_util::stream::unfold((f, count), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        match f.read(&mut buf).await {
            // The file shrank under us: end the body short rather than
            // spin (the client sees a truncated response).
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status;
    insert(&mut r, header::CONTENT_TYPE, format.content_type());
    insert(&mut r, header::CONTENT_LENGTH, &count.to_string());
    insert(&mut r, header::ACCEPT_RANGES, "bytes");
    // Recordings are personal data: never kept by a shared cache.
    insert(&mut r, header::CACHE_CONTROL, "private, no-store");
    if let Some(cr) = content_range {
        insert(&mut r, header::CONTENT_RANGE, &cr);
    }
    if let Disposition::Attachment(name) = disposition {
        // Names are made by webd from the recording's id: ASCII only.
        let safe: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        insert(
            &mut r,
            header::CONTENT_DISPOSITION,
            &format!("attachment; filename=\"{safe}\""),
        );
    }
    Ok(r)
}

fn insert(r: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Response) -> Vec<u8> {
        r.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn whole_part_and_unsatisfiable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wav");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();

        let r = file(&p, Format::Wav, None, Disposition::Inline)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::ACCEPT_RANGES], "bytes");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "audio/wav");
        assert_eq!(body(r).await, data);

        let r = file(&p, Format::Wav, Some("bytes=100000-"), Disposition::Inline)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            r.headers()[header::CONTENT_RANGE],
            "bytes 100000-199999/200000"
        );
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "100000");
        assert_eq!(body(r).await, data[100_000..]);

        let r = file(&p, Format::Wav, Some("bytes=10-19"), Disposition::Inline)
            .await
            .unwrap();
        assert_eq!(body(r).await, data[10..20]);

        let r = file(&p, Format::Wav, Some("bytes=300000-"), Disposition::Inline)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */200000");

        let r = file(
            &p,
            Format::Mp3,
            None,
            Disposition::Attachment("rekaman-7\".mp3"),
        )
        .await
        .unwrap();
        assert_eq!(
            r.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"rekaman-7.mp3\""
        );
    }
}
