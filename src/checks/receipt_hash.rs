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

use serde::Serialize;
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

/// The member a new answer is serialised with before its receipt has an id.
const CHECK_ID_PLACEHOLDER: &str = "\"check_id\":0,";

/// An answer in its canonical form with its top-level `check_id` member taken out, and the byte
/// offset where that member goes back: what a receipt stores, and from which its leaf hash and
/// the answer sent are made once the id is known, without parsing it again.
#[derive(Debug, Clone)]
pub struct CanonicalAnswer {
    /// RFC 8785 form of the answer without its `check_id` member.
    pub json: String,
    /// Where `"check_id":<id>,` goes in [`Self::json`].
    pub at: usize,
}

impl CanonicalAnswer {
    /// Serialises `answer` (whose `check_id` is still 0) by RFC 8785 and takes its top-level
    /// `check_id` member out. Fails when the answer has no such member followed by another (a
    /// check answer always has `checked_at` after it).
    pub fn of<T: Serialize>(answer: &T) -> Result<Self, String> {
        let json = serde_json_canonicalizer::to_string(answer).map_err(|e| e.to_string())?;
        let at = top_level_member(&json, CHECK_ID_PLACEHOLDER)
            .ok_or("the answer has no top-level check_id member to take out")?;
        let mut json = json;
        json.replace_range(at..at + CHECK_ID_PLACEHOLDER.len(), "");
        Ok(CanonicalAnswer { json, at })
    }

    /// The same answer with some text replaced by text of the same length (an ID number by its
    /// masked form), so that `at` stays where it was. `None` when a replacement differs in length.
    pub fn replaced(&self, pairs: &[(&str, &str)]) -> Option<Self> {
        let mut json = self.json.clone();
        for (from, to) in pairs {
            if from.len() != to.len() {
                return None;
            }
            json = json.replace(from, to);
        }
        Some(CanonicalAnswer { json, at: self.at })
    }

    /// The canonical form with `check_id` = `id`, in pieces (no copy of the whole).
    fn pieces<'a>(&'a self, id: &'a str) -> [&'a str; 5] {
        [
            &self.json[..self.at],
            "\"check_id\":",
            id,
            ",",
            &self.json[self.at..],
        ]
    }

    /// The canonical form with `check_id` = `id`.
    pub fn with_check_id(&self, id: i32) -> String {
        self.pieces(&id.to_string()).concat()
    }

    /// The answer as sent: the canonical form with `check_id` = `id` and, last, a member
    /// `"proof":<proof>` (`proof` is JSON text), built in one allocation.
    pub fn with_check_id_and_proof(&self, id: i32, proof: &str) -> String {
        let id = id.to_string();
        let [head, key, id, comma, tail] = self.pieces(&id);
        // The canonical form ends with its object's `}`: the proof goes before it.
        let tail = &tail[..tail.len() - 1];
        let mut out = String::with_capacity(self.json.len() + 32 + proof.len());
        for p in [head, key, id, comma, tail, ",\"proof\":", proof, "}"] {
            out.push_str(p);
        }
        out
    }

    /// The leaf hash of the receipt with `check_id` = `id`: equal to
    /// `leaf_hash(&canonical_bytes(&stored_answer_value(id, &self.json)))`, without parsing.
    pub fn leaf_hash(&self, id: i32) -> [u8; 32] {
        let id = id.to_string();
        let mut h = Sha256::new();
        h.update([0u8]);
        for p in self.pieces(&id) {
            h.update(p.as_bytes());
        }
        h.finalize().into()
    }
}

/// The byte offset of `member` (e.g. `"check_id":0,`) as a member of the outermost object of
/// `json`, not inside a string or a nested value.
fn top_level_member(json: &str, member: &str) -> Option<usize> {
    let bytes = json.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                // A key of the outermost object starts right after its `{` or a `,` there.
                let key_start = depth == 1 && i > 0 && matches!(bytes[i - 1], b'{' | b',');
                if key_start && bytes[i..].starts_with(member.as_bytes()) {
                    return Some(i);
                }
                in_string = true;
            }
            _ => {}
        }
    }
    None
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
    fn a_canonical_answer_hashes_as_its_parsed_receipt_does() {
        // Keys out of order, a nested `check_id` and one inside a string, escapes, non-ASCII.
        let answer = serde_json::json!({
            "subject_code": "110105199001010021",
            "related": [{"check_id": 0, "note": "\"check_id\":0, {[", "id": "110105199001010021"}],
            "checked_at": "2026-12-07T03:00:00Z",
            "check_id": 0,
            "black": [{"name": "通化市\u{1}测试\n", "n": 12}],
            "advice": "proceed",
        });
        let c = CanonicalAnswer::of(&answer).unwrap();
        assert!(!c.json.contains("\"check_id\":0,\"checked_at\""));
        for id in [1, 42, i32::MAX] {
            let mut parsed: Value = serde_json::from_str(&c.json).unwrap();
            parsed["check_id"] = Value::from(id);
            let bytes = canonical_bytes(&parsed);
            assert_eq!(c.with_check_id(id).as_bytes(), bytes.as_slice());
            assert_eq!(c.leaf_hash(id), leaf_hash(&bytes));
        }
        // Masking keeps the offset; a replacement of another length is refused.
        let masked = c
            .replaced(&[("110105199001010021", "110105********0021")])
            .unwrap();
        assert!(!masked.json.contains("110105199001010021"));
        let mut parsed: Value = serde_json::from_str(&masked.json).unwrap();
        parsed["check_id"] = Value::from(7);
        assert_eq!(masked.leaf_hash(7), leaf_hash(&canonical_bytes(&parsed)));
        assert!(c.replaced(&[("110105199001010021", "x")]).is_none());
        // Without a top-level check_id followed by another member, nothing to take out.
        assert!(CanonicalAnswer::of(&serde_json::json!({"a": {"check_id": 0, "b": 1}})).is_err());
        assert!(CanonicalAnswer::of(&serde_json::json!({"a": 1, "check_id": 0})).is_err());
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
