//! HTTP Range requests (RFC 9110 §14) on a recording, so `<audio>` can
//! seek and several supervisors can each play from where they want
//! without the whole file being sent. One range only (what browsers send
//! for media); anything else gets the whole file or 416.

/// What to send for a `Range` header against a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slice {
    /// No (usable) range: 200 with the whole file.
    Whole,
    /// 206 with bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// 416: the range starts past the end.
    Unsatisfiable,
}

/// Interprets the `Range` header value `h` (if any) for `len` bytes. A
/// header this does not understand (another unit, several ranges, bad
/// syntax) is ignored, as RFC 9110 allows: the whole file is sent.
pub fn slice(h: Option<&str>, len: u64) -> Slice {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Slice::Whole;
    };
    if spec.contains(',') {
        return Slice::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Slice::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // The last `b` bytes.
        let Ok(n) = b.parse::<u64>() else {
            return Slice::Whole;
        };
        if n == 0 || len == 0 {
            return Slice::Unsatisfiable;
        }
        return Slice::Part {
            start: len.saturating_sub(n),
            end: len - 1,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return Slice::Whole;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return Slice::Whole,
        }
    };
    if start >= len {
        return Slice::Unsatisfiable;
    }
    Slice::Part {
        start,
        end: end.min(len - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_browsers_send_them() {
        assert_eq!(slice(None, 100), Slice::Whole);
        assert_eq!(
            slice(Some("bytes=0-"), 100),
            Slice::Part { start: 0, end: 99 }
        );
        assert_eq!(
            slice(Some("bytes=10-19"), 100),
            Slice::Part { start: 10, end: 19 }
        );
        assert_eq!(
            slice(Some("bytes=90-200"), 100),
            Slice::Part { start: 90, end: 99 }
        );
        assert_eq!(
            slice(Some("bytes=-10"), 100),
            Slice::Part { start: 90, end: 99 }
        );
        assert_eq!(
            slice(Some("bytes=-500"), 100),
            Slice::Part { start: 0, end: 99 }
        );
        assert_eq!(slice(Some("bytes=100-"), 100), Slice::Unsatisfiable);
        assert_eq!(slice(Some("bytes=0-1,5-6"), 100), Slice::Whole);
        assert_eq!(slice(Some("items=0-1"), 100), Slice::Whole);
        assert_eq!(slice(Some("bytes=20-10"), 100), Slice::Whole);
        assert_eq!(slice(Some("bytes=x-"), 100), Slice::Whole);
    }
}
