//! Passwords: the policy (CTI-5: at least 8 characters with lower case,
//! upper case and digits) and argon2id hashes in PHC string form, so the
//! parameters travel with each hash and can be raised later.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::AppError;
use crate::i18n::{Lang, Text};

pub const MIN_LEN: usize = 8;

const TOO_SHORT: Text = Text {
    id: "Kata sandi minimal 8 karakter.",
    en: "The password needs at least 8 characters.",
};
const NEEDS_MIX: Text = Text {
    id: "Kata sandi harus memuat huruf kecil, huruf besar dan angka.",
    en: "The password needs lower case, upper case and digits.",
};

/// Checks the policy; the error names `field`.
pub fn check_policy(password: &str, field: &str, lang: Lang) -> Result<(), AppError> {
    if password.chars().count() < MIN_LEN {
        return Err(AppError::invalid(field, lang.t(&TOO_SHORT)));
    }
    let lower = password.chars().any(|c| c.is_lowercase());
    let upper = password.chars().any(|c| c.is_uppercase());
    let digit = password.chars().any(|c| c.is_ascii_digit());
    if !(lower && upper && digit) {
        return Err(AppError::invalid(field, lang.t(&NEEDS_MIX)));
    }
    Ok(())
}

/// An argon2id hash of `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches `stored`; a malformed stored hash matches
/// nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash that matches no password, verified against when the login is
/// unknown so that an unknown login takes as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$6Nl6ZJQsV1Ck8S5Yv7mUJqT+0T9QZr5X8pV1kz5Gm1o"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_wants_eight_characters_with_lower_upper_and_digit() {
        assert!(check_policy("Abcdefg1", "password", Lang::En).is_ok());
        for bad in ["Abcdef1", "abcdefg1", "ABCDEFG1", "Abcdefgh", ""] {
            match check_policy(bad, "password", Lang::En) {
                Err(AppError::Invalid { field, .. }) => assert_eq!(field, "password"),
                other => panic!("{bad:?} accepted: {other:?}"),
            }
        }
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("Secret123").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Secret123", &h));
        assert!(!verify("Secret124", &h));
        assert!(!verify("Secret123", "not a hash"));
        assert!(!verify("Secret123", dummy_hash()));
    }
}
