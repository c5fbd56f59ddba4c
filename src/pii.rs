//! Protection of personal ID numbers (公民身份号码) at rest.
//!
//! A [`PiiCipher`] is made once from the 32-byte master key (`pii_key`, see
//! [`crate::config::Settings::require_pii_key`]) and shared through `AppState::pii`. It gives
//! two things for each value:
//!
//! * [`PiiCipher::encrypt`]: the value encrypted with AES-256-GCM under a fresh random 96-bit
//!   nonce, as the self-describing text `v1:<base64(nonce ‖ ciphertext ‖ tag)>`. Store this in
//!   the database; [`PiiCipher::decrypt`] gives the value back to authorised code. Two
//!   encryptions of the same value differ, so the column says nothing about which rows are
//!   equal.
//! * [`PiiCipher::lookup_hash`]: a keyed hash (hex HMAC-SHA256) of the value. Store it in an
//!   indexed column next to the ciphertext and find a subject with an equality query on it
//!   (`WHERE subject_code_hash = ?`) without decrypting anything. Without the key the hash
//!   cannot be recomputed, so the 18-digit ID space (small enough to enumerate) cannot be
//!   searched offline from a stolen database.
//!
//! Both keys are derived from the master key with HMAC-SHA256 under separate labels; neither is
//! the master key itself, and the lookup key is never the encryption key.
//!
//! Inputs are normalised (trimmed, upper-cased) before both operations, so `…002x` and `…002X`
//! are the same subject. Callers should still validate IDs with
//! [`crate::domain::subject_code::IdNumber::parse`] first.
//!
//! Changing the master key makes every stored value unreadable and every stored hash useless;
//! see `docs/pii-and-spreadsheets.md`.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of the current storage format. A future format (another algorithm, or a key
/// version) gets another prefix, so stored values say how to read them.
pub const FORMAT_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

const ENCRYPTION_KEY_LABEL: &[u8] = b"credit-lists encryption v1";
const LOOKUP_KEY_LABEL: &[u8] = b"credit-lists lookup v1";
const KEY_ID_LABEL: &[u8] = b"credit-lists key id v1";

/// Why a stored value could not be decrypted. None of the messages contain the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    /// The value does not start with a known format prefix (`v1:`).
    #[error("the stored value is not in a known encrypted format")]
    UnknownFormat,
    /// The prefix is right but the rest is not valid base64, or too short to hold a nonce and
    /// an authentication tag.
    #[error("the stored value is malformed")]
    Malformed,
    /// Authentication failed: the value was altered, or it was encrypted under another key.
    #[error("the stored value cannot be decrypted: it was altered or encrypted under another key")]
    Decrypt,
}

impl PiiError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PiiError::UnknownFormat => "pii_unknown_format",
            PiiError::Malformed => "pii_malformed",
            PiiError::Decrypt => "pii_decrypt_failed",
        }
    }
}

/// Encrypts, decrypts and hashes personal ID numbers. Cheap to clone; `Debug` shows only a
/// short key identifier, never a key.
#[derive(Clone)]
pub struct PiiCipher {
    aead: Aes256Gcm,
    lookup: HmacSha256,
    key_id: String,
}

impl std::fmt::Debug for PiiCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiCipher")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC accepts any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// Trims and upper-cases: `11010519491231002x ` and `11010519491231002X` are one subject.
pub fn normalise(value: &str) -> String {
    value.trim().to_uppercase()
}

impl PiiCipher {
    /// Derives the encryption and lookup keys from the 32-byte master key.
    pub fn new(master_key: &[u8; 32]) -> Self {
        let enc_key = derive(master_key, ENCRYPTION_KEY_LABEL);
        let lookup_key = derive(master_key, LOOKUP_KEY_LABEL);
        let key_id = hex::encode(&derive(master_key, KEY_ID_LABEL)[..4]);
        PiiCipher {
            aead: Aes256Gcm::new_from_slice(&enc_key).expect("AES-256 key is 32 bytes"),
            lookup: <HmacSha256 as Mac>::new_from_slice(&lookup_key)
                .expect("HMAC accepts any key length"),
            key_id,
        }
    }

    /// A short, non-secret identifier of the master key (8 hex characters, derived under its
    /// own label). Useful in logs to tell which key a process runs with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts the normalised value: `v1:<base64(nonce ‖ ciphertext ‖ tag)>`, with a fresh
    /// random nonce each time.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let normalised = normalise(plaintext);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // AES-GCM fails only for messages of more than 2^36 bytes.
        let ciphertext = self
            .aead
            .encrypt(&nonce, normalised.as_bytes())
            .expect("AES-GCM encryption of a short value");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{FORMAT_PREFIX}{}", BASE64.encode(blob))
    }

    /// Decrypts a value made by [`PiiCipher::encrypt`] under the same master key.
    pub fn decrypt(&self, stored: &str) -> Result<String, PiiError> {
        let encoded = stored
            .strip_prefix(FORMAT_PREFIX)
            .ok_or(PiiError::UnknownFormat)?;
        let blob = BASE64
            .decode(encoded.trim_end())
            .map_err(|_| PiiError::Malformed)?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(PiiError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plaintext = self
            .aead
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| PiiError::Decrypt)?;
        // Authenticated data is what `encrypt` wrote, which was UTF-8.
        String::from_utf8(plaintext).map_err(|_| PiiError::Malformed)
    }

    /// Hex HMAC-SHA256 of the normalised value under the derived lookup key: equal values give
    /// equal hashes (64 lowercase hex characters), for an indexed equality lookup.
    pub fn lookup_hash(&self, plaintext: &str) -> String {
        let mut mac = self.lookup.clone();
        mac.update(normalise(plaintext).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Replaces every resident ID number (GB 11643, 18 characters, valid birth date and check
/// character) found in free text by its masked form (`110105********002X`), before the text is
/// stored, audited, published or pushed anywhere.
///
/// A candidate is a run of ASCII digits, optionally ending in `X`/`x`, of exactly 18 characters
/// that no further ASCII digit or letter touches on either side (so longer numbers, bank
/// accounts, and codes such as USCCs are left alone). It is masked only when
/// [`IdNumber::parse`](crate::domain::IdNumber::parse) accepts it. Old 15-digit numbers are not
/// recognised (the domain parser does not accept them), nor are numbers typed with spaces or in
/// full-width digits. Returns the text unchanged (borrowed) when it holds no ID number; the
/// result has as many characters as the input.
pub fn mask_id_numbers_in(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already copied to `out`
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let mut end = i;
        if end - start == 17 && end < bytes.len() && matches!(bytes[end], b'X' | b'x') {
            end += 1;
        }
        let touching = end < bytes.len() && bytes[end].is_ascii_alphanumeric();
        if end - start == 18 && !touching {
            if let Ok(id) = crate::domain::IdNumber::parse(&text[start..end]) {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                o.push_str(&text[copied..start]);
                o.push_str(&id.masked());
                copied = end;
            }
        }
        // Skip the rest of this alphanumeric run: digits inside a longer token are not an ID.
        i = end;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

/// [`mask_id_numbers_in`] for an owned string.
pub fn mask_id_numbers(text: String) -> String {
    match mask_id_numbers_in(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(masked) => masked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const OTHER_KEY: [u8; 32] = [8; 32];
    const ID: &str = "11010519491231002X";

    #[test]
    fn round_trip() {
        let c = PiiCipher::new(&KEY);
        let stored = c.encrypt(ID);
        assert!(stored.starts_with("v1:"), "{stored}");
        assert!(!stored.contains(ID));
        assert_eq!(c.decrypt(&stored).unwrap(), ID);
        // A cipher made again from the same key (the next process) reads it too.
        assert_eq!(PiiCipher::new(&KEY).decrypt(&stored).unwrap(), ID);
    }

    #[test]
    fn encryptions_differ_but_lookup_hashes_are_equal() {
        let c = PiiCipher::new(&KEY);
        let a = c.encrypt(ID);
        let b = c.encrypt(ID);
        assert_ne!(a, b);
        assert_eq!(c.lookup_hash(ID), c.lookup_hash(ID));
        let h = c.lookup_hash(ID);
        assert_eq!(h.len(), 64);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(c.lookup_hash(ID), c.lookup_hash("110105194912310021"));
    }

    #[test]
    fn lookup_hash_depends_on_the_key_and_is_not_a_plain_hash() {
        let a = PiiCipher::new(&KEY);
        let b = PiiCipher::new(&OTHER_KEY);
        assert_ne!(a.lookup_hash(ID), b.lookup_hash(ID));
        use sha2::Digest;
        assert_ne!(
            a.lookup_hash(ID),
            hex::encode(Sha256::digest(ID.as_bytes()))
        );
        // Not keyed with the master key directly either.
        let mut direct = <HmacSha256 as Mac>::new_from_slice(&KEY).unwrap();
        direct.update(ID.as_bytes());
        assert_ne!(
            a.lookup_hash(ID),
            hex::encode(direct.finalize().into_bytes())
        );
    }

    #[test]
    fn derived_keys_are_distinct_from_each_other_and_the_master() {
        let enc = derive(&KEY, ENCRYPTION_KEY_LABEL);
        let lookup = derive(&KEY, LOOKUP_KEY_LABEL);
        assert_ne!(enc, lookup);
        assert_ne!(enc, KEY);
        assert_ne!(lookup, KEY);
    }

    #[test]
    fn normalisation_makes_case_and_spaces_irrelevant() {
        let c = PiiCipher::new(&KEY);
        assert_eq!(
            c.lookup_hash("11010519491231002x"),
            c.lookup_hash("11010519491231002X")
        );
        assert_eq!(
            c.lookup_hash(" 11010519491231002x\t"),
            c.lookup_hash("11010519491231002X")
        );
        assert_eq!(c.decrypt(&c.encrypt(" 11010519491231002x ")).unwrap(), ID);
    }

    #[test]
    fn tampered_ciphertext_is_an_error() {
        let c = PiiCipher::new(&KEY);
        let stored = c.encrypt(ID);
        let mut blob = BASE64.decode(&stored[3..]).unwrap();
        for i in [0, NONCE_LEN, blob.len() - 1] {
            blob[i] ^= 0x01;
            let tampered = format!("v1:{}", BASE64.encode(&blob));
            assert_eq!(c.decrypt(&tampered), Err(PiiError::Decrypt), "byte {i}");
            blob[i] ^= 0x01;
        }
        // Truncated.
        let short = format!("v1:{}", BASE64.encode(&blob[..NONCE_LEN + TAG_LEN - 1]));
        assert_eq!(c.decrypt(&short), Err(PiiError::Malformed));
        let cut = format!("v1:{}", BASE64.encode(&blob[..blob.len() - 1]));
        assert_eq!(c.decrypt(&cut), Err(PiiError::Decrypt));
    }

    #[test]
    fn wrong_key_is_an_error() {
        let stored = PiiCipher::new(&KEY).encrypt(ID);
        assert_eq!(
            PiiCipher::new(&OTHER_KEY).decrypt(&stored),
            Err(PiiError::Decrypt)
        );
    }

    #[test]
    fn wrong_prefix_and_bad_base64_are_errors() {
        let c = PiiCipher::new(&KEY);
        let stored = c.encrypt(ID);
        assert_eq!(
            c.decrypt(&stored.replacen("v1:", "v2:", 1)),
            Err(PiiError::UnknownFormat)
        );
        assert_eq!(c.decrypt(&stored[3..]), Err(PiiError::UnknownFormat));
        assert_eq!(c.decrypt(ID), Err(PiiError::UnknownFormat));
        assert_eq!(c.decrypt(""), Err(PiiError::UnknownFormat));
        assert_eq!(c.decrypt("v1:not base64!!"), Err(PiiError::Malformed));
        assert_eq!(c.decrypt("v1:"), Err(PiiError::Malformed));
        assert_eq!(c.decrypt("v1:é"), Err(PiiError::Malformed));
        assert_eq!(PiiError::Decrypt.code(), "pii_decrypt_failed");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let c = PiiCipher::new(&KEY);
        let dbg = format!("{c:?}");
        assert!(dbg.starts_with("PiiCipher"), "{dbg}");
        assert!(dbg.contains(c.key_id()));
        assert!(!dbg.contains(&hex::encode(KEY)));
        assert!(!dbg.contains(&hex::encode(derive(&KEY, ENCRYPTION_KEY_LABEL))));
        assert!(!dbg.contains(&hex::encode(derive(&KEY, LOOKUP_KEY_LABEL))));
        assert!(!dbg.contains("7, 7, 7"));
        assert_eq!(c.key_id().len(), 8);
        assert_ne!(c.key_id(), PiiCipher::new(&OTHER_KEY).key_id());
    }

    #[test]
    fn id_numbers_in_free_text_are_masked() {
        let m = |t: &str| mask_id_numbers_in(t).into_owned();
        assert_eq!(
            m("当事人王某（身份证号11010519491231002X）拒不履行"),
            "当事人王某（身份证号110105********002X）拒不履行"
        );
        assert_eq!(m("11010519491231002x"), "110105********002X");
        assert_eq!(
            m("a 11010519491231002X, b 110105194912310038."),
            "a 110105********002X, b 110105********0038."
        );
        // Untouched: no number, a wrong check character, an impossible date, a longer digit
        // run, a number glued to letters, a USCC, 15 digits.
        for keep in [
            "",
            "无",
            "110105194912310021",
            "110105194902310020",
            "911010519491231002X",
            "11010519491231002X1",
            "A11010519491231002X",
            "11010519491231002XA",
            "91350100M000100Y43",
            "110105491231002",
            "通法执〔2026〕99号",
        ] {
            assert!(
                matches!(mask_id_numbers_in(keep), std::borrow::Cow::Borrowed(_)),
                "{keep}"
            );
        }
        let long = format!("{}。", "无关文字".repeat(100));
        assert!(matches!(
            mask_id_numbers_in(&long),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            mask_id_numbers("x11010519491231002X 11010519491231002X".into()),
            "x11010519491231002X 110105********002X"
        );
        let t = "身份证11010519491231002X";
        assert_eq!(m(t).chars().count(), t.chars().count());
    }
}
