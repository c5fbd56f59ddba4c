//! Access tokens (JWT, HS256 with a key id so keys can rotate) and opaque refresh tokens.

use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::error::ApiError;

pub const ISSUER: &str = "credit-lists";
pub const AUDIENCE: &str = "credit-lists-api";
/// The staff console's session cookie: a token the API refuses (its audience is not the API's),
/// verified without leeway, with a lifetime of the console's idle timeout (renewed by each
/// request); the session row behind it ends at the console's absolute lifetime.
pub const CONSOLE_AUDIENCE: &str = "credit-lists-console";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Session (refresh-token family) id: logout revokes the session and with it this token.
    pub sid: String,
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

struct Key {
    kid: String,
    decoding: DecodingKey,
}

/// Tokens whose signature, issuer and audience were verified, kept so that a client sending the
/// same token on every request (an approval system checking thousands of subjects) is not
/// re-verified each time. Holding a token here proves only that this process verified it: expiry
/// and not-before are checked again on every use, and the session behind it is checked by the
/// caller as for any token. The map is emptied when it reaches [`VERIFIED_CAP`] tokens.
/// Entries are shared (`Arc`), so a hit copies no claims.
type Verified = std::sync::Mutex<std::collections::HashMap<Box<str>, Arc<Claims>>>;

/// Most verified tokens remembered (about 600 bytes each).
const VERIFIED_CAP: usize = 10_000;
/// Leeway in seconds for `exp` and `nbf`, as in the full verification.
const LEEWAY: i64 = 5;

fn expired() -> ApiError {
    ApiError::unauthorized("the access token has expired")
}

fn not_valid_yet() -> ApiError {
    ApiError::unauthorized("the access token is not valid yet")
}

/// Signing key plus the previous key, which still verifies tokens it signed until they expire.
pub struct JwtKeys {
    current_kid: String,
    encoding: EncodingKey,
    verifying: Vec<Key>,
    verified: Verified,
    /// MAC keys for the console's CSRF tokens, derived from the current and previous secret.
    csrf_keys: Vec<Vec<u8>>,
}

/// Leeway of `exp`/`nbf` for tokens of `audience`: none for the console's idle timeout.
fn leeway_for(audience: &str) -> i64 {
    if audience == CONSOLE_AUDIENCE {
        0
    } else {
        LEEWAY
    }
}

type HmacSha256 = hmac::Hmac<Sha256>;

fn csrf_key(secret: &str) -> Vec<u8> {
    Sha256::digest(format!("credit-lists csrf key:{secret}").as_bytes()).to_vec()
}

/// A key id that names a secret without revealing it.
fn key_id(secret: &str) -> String {
    let digest = Sha256::digest(format!("credit-lists key id:{secret}").as_bytes());
    format!("k{}", &hex::encode(digest)[..12])
}

impl JwtKeys {
    pub fn new(current: &str, previous: Option<&str>) -> Result<Self, String> {
        let encoding = EncodingKey::from_secret(current.as_bytes()).map_err(|e| e.to_string())?;
        let mut verifying = vec![Key {
            kid: key_id(current),
            decoding: DecodingKey::from_secret(current.as_bytes()).map_err(|e| e.to_string())?,
        }];
        if let Some(prev) = previous {
            verifying.push(Key {
                kid: key_id(prev),
                decoding: DecodingKey::from_secret(prev.as_bytes()).map_err(|e| e.to_string())?,
            });
        }
        Ok(Self {
            current_kid: key_id(current),
            encoding,
            verifying,
            verified: Verified::default(),
            csrf_keys: std::iter::once(current)
                .chain(previous)
                .map(csrf_key)
                .collect(),
        })
    }

    /// The CSRF token bound to `binding` (a console session id, or the login form's cookie):
    /// HMAC-SHA256 under a key derived from the signing secret, hex.
    pub fn csrf_token(&self, binding: &str) -> String {
        use hmac::Mac;
        let mut mac = HmacSha256::new_from_slice(&self.csrf_keys[0]).expect("any key length");
        mac.update(binding.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `sent` is the CSRF token of `binding` (under the current or the previous key),
    /// compared in constant time.
    pub fn csrf_matches(&self, binding: &str, sent: &str) -> bool {
        use hmac::Mac;
        let Ok(sent) = hex::decode(sent.trim()) else {
            return false;
        };
        self.csrf_keys.iter().any(|key| {
            let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
            mac.update(binding.as_bytes());
            mac.verify_slice(&sent).is_ok()
        })
    }
    /// Signs an access token; returns it with its lifetime in seconds.
    pub fn issue(
        &self,
        user_id: i32,
        session_id: &str,
        role: &str,
        ttl_secs: i64,
    ) -> Result<String, ApiError> {
        self.issue_for(AUDIENCE, user_id, session_id, role, ttl_secs)
    }

    /// Signs a token for `audience` ([`AUDIENCE`] or [`CONSOLE_AUDIENCE`]).
    pub fn issue_for(
        &self,
        audience: &str,
        user_id: i32,
        session_id: &str,
        role: &str,
        ttl_secs: i64,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            role: role.to_string(),
            iss: ISSUER.into(),
            aud: audience.into(),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current_kid.clone());
        encode(&header, &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("signing token: {e}")))
    }

    /// Checks signature (by key id), algorithm, issuer, audience, expiry and not-before. A token
    /// this process verified before is not verified again; its expiry and not-before are.
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, ApiError> {
        self.verify_for(token, AUDIENCE)
    }

    /// [`JwtKeys::verify`] for tokens of `audience`: a token of another audience is refused,
    /// remembered or not.
    pub fn verify_for(&self, token: &str, audience: &str) -> Result<Arc<Claims>, ApiError> {
        let remembered = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(token).cloned());
        if let Some(claims) = remembered {
            if claims.aud != audience {
                return Err(ApiError::unauthorized("the access token is invalid"));
            }
            let now = chrono::Utc::now().timestamp();
            let leeway = leeway_for(audience);
            if claims.exp + leeway < now {
                return Err(expired());
            }
            if claims.nbf - leeway > now {
                return Err(not_valid_yet());
            }
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_signed(token, audience)?);
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= VERIFIED_CAP {
                m.clear();
            }
            m.insert(token.into(), claims.clone());
        }
        Ok(claims)
    }

    fn verify_signed(&self, token: &str, audience: &str) -> Result<Claims, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let bad = || ApiError::unauthorized("the access token is invalid");
        let header = decode_header(token).map_err(|_| bad())?;
        if header.alg != Algorithm::HS256 {
            return Err(bad());
        }
        let kid = header.kid.ok_or_else(bad)?;
        let key = self
            .verifying
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(bad)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        validation.leeway = leeway_for(audience) as u64;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        decode::<Claims>(token, &key.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => expired(),
                ErrorKind::ImmatureSignature => not_valid_yet(),
                _ => bad(),
            })
    }
}

/// 256 random bits, hex-encoded: refresh tokens, session ids, demo secrets.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef-a";
    const B: &str = "0123456789abcdef0123456789abcdef-b";

    #[test]
    fn issued_token_verifies() {
        let keys = JwtKeys::new(A, None).unwrap();
        let t = keys.issue(7, "s1", "admin", 60).unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!(c.sub, "7");
        assert_eq!(c.sid, "s1");
    }

    #[test]
    fn previous_key_still_verifies_after_rotation_and_unknown_keys_do_not() {
        let old = JwtKeys::new(A, None).unwrap();
        let t = old.issue(1, "s", "admin", 60).unwrap();
        let rotated = JwtKeys::new(B, Some(A)).unwrap();
        assert!(rotated.verify(&t).is_ok());
        let dropped = JwtKeys::new(B, None).unwrap();
        assert!(dropped.verify(&t).is_err());
    }

    #[test]
    fn audiences_do_not_mix_even_when_remembered() {
        let keys = JwtKeys::new(A, None).unwrap();
        let console = keys
            .issue_for(CONSOLE_AUDIENCE, 1, "s", "admin", 60)
            .unwrap();
        let api = keys.issue(1, "s", "admin", 60).unwrap();
        assert!(keys.verify(&console).is_err());
        assert!(keys.verify_for(&console, CONSOLE_AUDIENCE).is_ok());
        assert!(keys.verify(&console).is_err(), "remembered, still refused");
        assert!(keys.verify(&api).is_ok());
        assert!(keys.verify_for(&api, CONSOLE_AUDIENCE).is_err());
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session_and_key() {
        let keys = JwtKeys::new(A, None).unwrap();
        let t = keys.csrf_token("session-1");
        assert_eq!(t.len(), 64);
        assert!(keys.csrf_matches("session-1", &t));
        assert!(!keys.csrf_matches("session-2", &t));
        assert!(!keys.csrf_matches("session-1", "not hex"));
        assert!(!keys.csrf_matches("session-1", ""));
        assert!(JwtKeys::new(B, Some(A))
            .unwrap()
            .csrf_matches("session-1", &t));
        assert!(!JwtKeys::new(B, None).unwrap().csrf_matches("session-1", &t));
    }

    #[test]
    fn expired_token_is_rejected() {
        let keys = JwtKeys::new(A, None).unwrap();
        let t = keys.issue(1, "s", "admin", -3600).unwrap();
        assert!(keys.verify(&t).is_err());
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_expiry_and_a_tampered_copy_is_not_remembered() {
        let keys = JwtKeys::new(A, None).unwrap();
        let t = keys.issue(1, "s", "admin", 60).unwrap();
        assert!(keys.verify(&t).is_ok());
        // Same claims, signature altered: a different string, verified in full and refused.
        let mut forged = t.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&forged).is_err());
        // The remembered token's time runs out: refused although it is remembered.
        {
            let mut remembered = keys.verified.lock().unwrap();
            let entry = remembered.get_mut(t.as_str()).unwrap();
            Arc::make_mut(entry).exp = chrono::Utc::now().timestamp() - 60;
        }
        let e = keys.verify(&t).unwrap_err();
        assert!(format!("{e:?}").contains("expired"), "{e:?}");
    }
}
