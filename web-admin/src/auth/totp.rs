//! TOTP second factor (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps, one
//! step of clock skew either way), mandatory for admins and supervisors.
//! A code is accepted once: the step it matched is stored and later codes
//! must come from a later step, so a code seen over a shoulder cannot be
//! replayed within its 90-second window. Time is an input.

use qrcode::render::svg;
use qrcode::QrCode;
use rand::RngCore;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::error::AppError;

const STEP_S: u64 = 30;
const DIGITS: usize = 6;
pub const ISSUER: &str = "Dering";

/// A fresh 160-bit secret, base32 (what authenticator apps take).
pub fn new_secret() -> String {
    let mut b = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut b);
    Secret::Raw(b.to_vec()).to_encoded().to_string()
}

fn totp(secret_b32: &str) -> Result<TOTP, AppError> {
    let raw = Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .map_err(|e| AppError::Internal(format!("stored TOTP secret: {e:?}")))?;
    TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP_S, raw)
        .map_err(|e| AppError::Internal(format!("stored TOTP secret: {e}")))
}

/// The `otpauth://` URI an authenticator app enrols from.
pub fn uri(secret_b32: &str, login: &str) -> String {
    let label = crate::ui::url_encode(&format!("{ISSUER}:{login}")).replace('/', "%2F");
    format!(
        "otpauth://totp/{label}?secret={secret_b32}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_S}"
    )
}

/// The URI as an SVG QR code, for the enrolment page (inline SVG needs no
/// script and no image fetch).
pub fn qr_svg(uri: &str) -> Result<String, AppError> {
    let code =
        QrCode::new(uri.as_bytes()).map_err(|e| AppError::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// The code for `now_ms` (the demo prints it; tests type it).
pub fn code_at(secret_b32: &str, now_ms: i64) -> Result<String, AppError> {
    Ok(totp(secret_b32)?.generate(unix_s(now_ms)))
}

fn unix_s(now_ms: i64) -> u64 {
    u64::try_from(now_ms / 1000).unwrap_or(0)
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The time step `code` matches at `now_ms` (± one step), if it is later
/// than `last_step`, the step of the code used before.
pub fn verify(
    secret_b32: &str,
    code: &str,
    now_ms: i64,
    last_step: i64,
) -> Result<Option<i64>, AppError> {
    let t = totp(secret_b32)?;
    let code = code.trim();
    let now = unix_s(now_ms) / STEP_S;
    for step in [now.saturating_sub(1), now, now + 1] {
        let Ok(step_i) = i64::try_from(step) else {
            continue;
        };
        if step_i > last_step && same(t.generate(step * STEP_S).as_bytes(), code.as_bytes()) {
            return Ok(Some(step_i));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits); the
    /// 6-digit code is its last six digits.
    #[test]
    fn the_rfc_6238_vector_gives_its_code() {
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        assert_eq!(code_at(&secret, 59_000).unwrap(), "287082");
    }

    #[test]
    fn a_code_is_accepted_once_within_its_window() {
        let s = new_secret();
        let now = 1_796_396_400_000;
        let code = code_at(&s, now).unwrap();
        let step = verify(&s, &code, now, 0).unwrap().expect("accepted");
        // The same code again: refused (replay).
        assert_eq!(verify(&s, &code, now + 1000, step).unwrap(), None);
        // 30 s late it still counts (skew), 90 s late not.
        assert!(verify(&s, &code, now + 30_000, 0).unwrap().is_some());
        assert_eq!(verify(&s, &code, now + 90_000, 0).unwrap(), None);
        assert_eq!(verify(&s, "000000x", now, 0).unwrap(), None);
    }

    #[test]
    fn the_enrolment_uri_names_issuer_and_login() {
        let u = uri("ABC", "ana");
        assert_eq!(
            u,
            "otpauth://totp/Dering%3Aana?secret=ABC&issuer=Dering&algorithm=SHA1&digits=6&period=30"
        );
        assert!(qr_svg(&u).unwrap().contains("<svg"));
    }
}
