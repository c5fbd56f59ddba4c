//! A receipt's (核查记录) canonical form and hash, the one definition every other part uses: the
//! signed receipt log (its leaf hash), the printed 信用核查结果单 and the public verification page.
//!
//! - **Canonical form:** the receipt as `GET /api/v1/credit-checks/{id}` returns it
//!   ([`super::receipts::ReceiptRow::answer_value`], `check_id` included, nothing added after the
//!   fact such as a proof), serialised by the JSON Canonicalization Scheme (RFC 8785: object
//!   keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string forms).
//! - **Hash:** SHA-256 over one `0x00` byte followed by the canonical form: RFC 9162's leaf hash
//!   (`MTH({d}) = SHA-256(0x00 || d)`), so the receipt hash is also its leaf in the log.
//!
//! Written out as lowercase hex wherever it is shown. A stored receipt's own hash is
//! [`super::receipts::ReceiptRow::hash`].

use serde_json::Value;
use sha2::{Digest, Sha256};

/// RFC 8785 canonical bytes of a JSON value.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    // Serialising a `serde_json::Value` cannot fail: its keys are strings and its numbers finite.
    serde_json_canonicalizer::to_vec(value).unwrap_or_default()
}

/// RFC 9162 leaf hash of canonical bytes: SHA-256(0x00 ‖ bytes).
pub fn leaf_hash(canonical: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(canonical);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": 1, "a": [ "x", {"d": null, "c": true} ] }"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_bytes(&v)).unwrap(),
            r#"{"a":["x",{"c":true,"d":null}],"b":1}"#
        );
    }

    #[test]
    fn leaf_hash_is_rfc9162_leaf() {
        // SHA-256 of the single byte 0x00 (the empty leaf) is a published constant.
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }
}
