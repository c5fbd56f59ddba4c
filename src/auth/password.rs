//! Password hashing with argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane).

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::FieldError;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> Result<String, String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing password: {e}"))
}

pub fn verify(password: &str, stored: &str) -> bool {
    hasher()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// Spends the same time as a real check, so a login for an unknown user is not faster.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("credit-lists dummy password").unwrap_or_default());
    let _ = verify(password, stored);
}

/// The 10,000 most common passwords (zxcvbn's frequency list, see the file's header), lowercase.
fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Usernames shorter than this are only refused as the whole password, not as a part of it (a
/// one-letter name is part of most passphrases).
pub const MIN_USERNAME_IN_PASSWORD: usize = 3;

/// Fewest different characters a password must have.
pub const MIN_DISTINCT_CHARS: usize = 4;

fn weak(field: &str, message: &str) -> FieldError {
    FieldError::new(field, "weak_password", message)
}

/// Whether `s` is one shorter string repeated (`abcabcabcabc`, `dragondragon`).
fn is_repetition(s: &[char]) -> bool {
    let n = s.len();
    (1..=n / 2).any(|unit| n.is_multiple_of(unit) && s.chunks(unit).all(|c| c == &s[..unit]))
}

/// The password policy (NIST SP 800-63B 3.1.1.2, OWASP Authentication Cheat Sheet): a length
/// between [`MIN_LEN`] and [`MAX_LEN`]; not the username and not containing it (case-insensitive);
/// not one of the 10,000 most common passwords, also after stripping digits and punctuation from
/// either end (`password1234`); not a repetition (`aaaaaaaaaaaa`, `qwertyqwerty`) and with at
/// least [`MIN_DISTINCT_CHARS`] different characters. No composition rules: long passphrases are
/// welcome. Every refusal is `weak_password` (or `password_too_short`/`_long`) on `field`.
pub fn check_policy(field: &str, username: &str, password: &str) -> Result<(), FieldError> {
    check_length(field, password)?;
    let lower = password.to_lowercase();
    let user = username.trim().to_lowercase();
    if !user.is_empty()
        && (lower == user
            || (user.chars().count() >= MIN_USERNAME_IN_PASSWORD && lower.contains(&user)))
    {
        return Err(weak(
            field,
            "the password must not be or contain the username",
        ));
    }
    let chars: Vec<char> = lower.chars().collect();
    let distinct: HashSet<char> = chars.iter().copied().collect();
    if distinct.len() < MIN_DISTINCT_CHARS || is_repetition(&chars) {
        return Err(weak(
            field,
            "the password is too repetitive: use a longer phrase of different words",
        ));
    }
    let list = common_passwords();
    let edge = |c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace();
    let stripped = [
        lower.as_str(),
        lower.trim_end_matches(edge),
        lower.trim_start_matches(edge),
        lower.trim_matches(edge),
    ];
    if stripped.iter().any(|s| list.contains(s)) {
        return Err(weak(
            field,
            "the password is one of the most common passwords (or one with digits added)",
        ));
    }
    Ok(())
}

/// Length only: for accounts seeded by the program itself (the demo accounts).
pub fn check_length(field: &str, password: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(FieldError::new(
            field,
            "password_too_short",
            format!("the password must have at least {MIN_LEN} characters"),
        ));
    }
    if n > MAX_LEN {
        return Err(FieldError::new(
            field,
            "password_too_long",
            format!("the password must have at most {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_and_is_argon2id_with_a_fresh_salt() {
        let h1 = hash("correct horse battery").unwrap();
        let h2 = hash("correct horse battery").unwrap();
        assert!(h1.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h1}");
        assert_ne!(h1, h2);
        assert!(verify("correct horse battery", &h1));
        assert!(!verify("wrong horse battery", &h1));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn policy_checks_length() {
        assert!(check_policy("password", "u", "short").is_err());
        assert!(check_policy("password", "u", "twelve chars").is_ok());
        assert!(check_policy("password", "u", &"xy".repeat(129)).is_err());
    }

    fn code(username: &str, password: &str) -> Option<String> {
        check_policy("p", username, password).err().map(|e| e.code)
    }

    #[test]
    fn policy_refuses_weak_passwords() {
        assert_eq!(common_passwords().len(), 10_000);
        assert!(common_passwords().contains("password"));
        for (user, pw) in [
            ("alice", "aaaaaaaaaaaa"),
            ("alice", "abababababab"),
            ("alice", "qwertyqwerty"),
            ("alice", "password1234"),
            ("alice", "1234password"),
            ("alice", "Password1234!"),
            ("alice", "baseball1234"),
            ("alice.smith", "Alice.Smith!!"),
            ("alice", "my name is ALICE ok"),
            ("longusername1", "longusername1"),
        ] {
            assert_eq!(code(user, pw).as_deref(), Some("weak_password"), "{pw}");
        }
        for (user, pw) in [
            ("alice", "correct horse battery staple"),
            ("a", "correct horse battery staple"),
            ("bob", "demo-tax-pass-x"),
        ] {
            assert_eq!(code(user, pw), None, "{pw}");
        }
    }
}
