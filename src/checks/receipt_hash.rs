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
use std::sync::Arc;

/// RFC 8785 canonical bytes of a JSON value.
///
/// A value whose object keys are all ASCII and whose numbers are all integers within ±2^53 (every
/// receipt) is written by `serde_json` directly: its objects are `BTreeMap`s, so their keys come
/// out in byte order, which for ASCII keys is RFC 8785's UTF-16 order, and it writes those
/// integers, strings and their escapes exactly as RFC 8785 does (see [`CanonicalAnswer::of`]).
/// Anything else (a float, a larger integer, a non-ASCII key) goes through the general RFC 8785
/// serialiser, which buffers and sorts every object, a large part of the CPU of hashing a receipt
/// from its row (the receipt log's sequencer and consistency checks, `docs/performance.md`,
/// twenty-second round). Debug builds (every test) compare the two.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    fn plain(v: &Value) -> bool {
        match v {
            // RFC 8785 writes numbers as IEEE doubles: an integer is written as itself only up
            // to 2^53.
            Value::Number(n) => n.as_i64().is_some_and(|i| i.unsigned_abs() <= 1 << 53),
            Value::Array(a) => a.iter().all(plain),
            Value::Object(m) => m.iter().all(|(k, v)| k.is_ascii() && plain(v)),
            Value::Null | Value::Bool(_) | Value::String(_) => true,
        }
    }
    // Serialising a `serde_json::Value` cannot fail: its keys are strings and its numbers finite.
    let general = || serde_json_canonicalizer::to_vec(value).unwrap_or_default();
    if !plain(value) {
        return general();
    }
    let out = serde_json::to_vec(value).unwrap_or_default();
    debug_assert_eq!(
        out,
        general(),
        "the plain canonical form differs from RFC 8785's"
    );
    out
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
    /// RFC 8785 form of the answer without its `check_id` member; shared, not copied, by the
    /// receipt and the answer sent when they are the same.
    pub json: Arc<String>,
    /// Where `"check_id":<id>,` goes in [`Self::json`].
    pub at: usize,
}

impl CanonicalAnswer {
    /// Serialises `answer` (whose `check_id` is still 0) in its RFC 8785 form and takes its
    /// top-level `check_id` member out. Fails when the answer has no such member followed by
    /// another (a check answer always has `checked_at` after it).
    ///
    /// The form is written by `serde_json` as it is: the check answer's types
    /// ([`super::CheckAnswer`] and every type inside it) declare their fields in sorted order
    /// (ASCII names, so byte order is RFC 8785's UTF-16 order), hold no floats, and serde_json
    /// writes integers, strings and their escapes exactly as RFC 8785 does. A general RFC 8785
    /// serialiser buffers and sorts every object, which took a fifth of the HTTP workers' CPU
    /// (docs/performance.md, sixteenth round). Debug builds (every test) compare each answer with
    /// that serialiser and fail on a difference; `check_answers_serialise_in_canonical_form`
    /// checks a fully filled answer in any build.
    pub fn of<T: Serialize>(answer: &T) -> Result<Self, String> {
        let json = serde_json::to_string(answer).map_err(|e| e.to_string())?;
        if cfg!(debug_assertions)
            && serde_json_canonicalizer::to_string(answer).map_err(|e| e.to_string())? != json
        {
            return Err(
                "the answer does not serialise in RFC 8785 form (its fields must be \
                 declared in sorted order)"
                    .into(),
            );
        }
        let at = top_level_member(&json, CHECK_ID_PLACEHOLDER)
            .ok_or("the answer has no top-level check_id member to take out")?;
        let mut json = json;
        json.replace_range(at..at + CHECK_ID_PLACEHOLDER.len(), "");
        Ok(CanonicalAnswer {
            json: Arc::new(json),
            at,
        })
    }

    /// The same answer with some text replaced by text of the same length (an ID number by its
    /// masked form), so that `at` stays where it was. `None` when a replacement differs in length.
    pub fn replaced(&self, pairs: &[(&str, &str)]) -> Option<Self> {
        let mut json = String::clone(&self.json);
        for (from, to) in pairs {
            if from.len() != to.len() {
                return None;
            }
            json = json.replace(from, to);
        }
        Some(CanonicalAnswer {
            json: Arc::new(json),
            at: self.at,
        })
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

    /// The plain path of `canonical_bytes` against the general RFC 8785 serialiser, in any build:
    /// escapes, control characters, non-ASCII text and keys, nesting, integers at the edges, and
    /// values that must take the general path (floats, non-ASCII keys).
    #[test]
    fn plain_values_serialise_as_the_general_canonicaliser_does() {
        let text = "通化\u{1}\u{1f}\u{7f}\t\n\r\u{8}\u{c}\"\\/é😀\u{2028}\u{e000}\u{ffff}";
        let values = [
            serde_json::json!({"z": text, "a": [1, -1, i64::MIN, u64::MAX, 0], "m": {"y": null, "b": true}}),
            serde_json::json!([{"check_id": 7, "reasons": [{"code": "legacy", "message": text}]}]),
            serde_json::json!({"k": 1.5, "a": 2}),
            serde_json::json!({"é": 1, "e": 2, "😀": 3, "\u{e000}": 4}),
            serde_json::json!({"n": 1e21, "small": 5e-7}),
            serde_json::json!([
                9_007_199_254_740_992i64,
                -9_007_199_254_740_992i64,
                9_007_199_254_740_993i64
            ]),
            serde_json::json!(text),
            serde_json::json!({}),
        ];
        for v in &values {
            assert_eq!(
                canonical_bytes(v),
                serde_json_canonicalizer::to_vec(v).unwrap(),
                "{v}"
            );
        }
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

    /// Every type of a check answer, every member present (options set, lists filled), with
    /// strings that need escapes: serde_json's output is the RFC 8785 form.
    #[test]
    fn check_answers_serialise_in_canonical_form() {
        use crate::checks::*;
        use crate::domain::SubjectType;
        use crate::entries::Source;
        use crate::four_lists::{LegalBasis, LegalBasisLevel};
        use crate::repair::letters::{BreachView, CommitmentSummary, Purpose};
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 600_007)
            .unwrap();
        let day = at.date();
        let text = "通化\u{1}\u{1f}\u{7f}\t\n\r\u{8}\u{c}\"\\/é😀\u{2028}";
        let reason = Reason::new("c", text.to_string());
        let entry = CheckEntry {
            department_id: 3,
            department_name: text.into(),
            determination_date: day,
            document_number: "通市监〔2026〕1号".into(),
            entry_id: 9,
            objection_open: true,
            scope_item_code: "B-1".into(),
            scope_item_id: 4,
            scope_item_title: text.into(),
            scope_item_version: 2,
            source: Source::National,
            valid_from: day,
            valid_until: day,
        };
        let answer = CheckAnswer {
            advice: Advice::GreenChannel,
            black: vec![entry.clone()],
            check_id: 0,
            checked_at: at,
            commitments: vec![CommitmentSummary {
                breaches: vec![BreachView {
                    breach_date: day,
                    commitment_id: 5,
                    created_at: at,
                    department_id: 3,
                    facts: text.into(),
                    id: 1,
                    recorded_by: -2,
                }],
                check_id: Some(i32::MAX),
                commitment_id: 5,
                department_id: 3,
                department_name: "d".into(),
                licence_reference: Some(text.into()),
                purpose: Purpose::PreLicensing,
                signed_at: at,
                template_id: 1,
                template_version: 1,
                valid_until: Some(day),
            }],
            field: "administrative_licensing".into(),
            known: true,
            measures: vec![CheckMeasure {
                code: "M-1".into(),
                department_id: 3,
                description: text.into(),
                entry_ids: vec![9, i32::MIN],
                implementing_departments: vec![DepartmentRef {
                    id: 3,
                    name: text.into(),
                }],
                kind: "punishment_measures".into(),
                legal_basis: vec![LegalBasis {
                    article: Some("第六十三条".into()),
                    document: text.into(),
                    issuer: Some("i".into()),
                    level: Some(LegalBasisLevel::Law),
                }],
                measure_item_id: 8,
                title: text.into(),
                version: 1,
            }],
            notification_commitment: Some(NotificationCommitment {
                reasons: vec![reason.clone()],
                status: NcStatus::NotAllowed,
            }),
            proof: None,
            purpose: Some(text.into()),
            reasons: vec![reason],
            red: vec![entry.clone()],
            reference: Some(text.into()),
            related: vec![RelatedParty {
                black: vec![entry],
                id_number: "110105********002X".into(),
                name: Some(text.into()),
                relation: Relation::LegalRepresentative,
                via_entry_ids: vec![1],
            }],
            subject: Some(CheckSubject {
                code: "91350100M000100Y43".into(),
                code_flagged: true,
                kind: SubjectType::OtherOrganisation,
                name: text.into(),
                region_code: Some("220500".into()),
            }),
            subject_code: "91350100M000100Y43".into(),
        };
        let jcs = serde_json_canonicalizer::to_string(&answer).unwrap();
        assert_eq!(serde_json::to_string(&answer).unwrap(), jcs);
        // And the same with every option empty and every list empty.
        let bare = CheckAnswer {
            black: vec![],
            commitments: vec![],
            measures: vec![],
            notification_commitment: None,
            purpose: None,
            reasons: vec![],
            red: vec![],
            reference: None,
            related: vec![],
            subject: None,
            ..answer
        };
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            serde_json_canonicalizer::to_string(&bare).unwrap()
        );
        let c = CanonicalAnswer::of(&bare).unwrap();
        assert_eq!(c.with_check_id(0), serde_json::to_string(&bare).unwrap());
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
