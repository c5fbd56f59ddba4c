//! Signed receipts: the Ed25519 keys, the RFC 9162 Merkle tree functions, the proof each check
//! answer carries, and the offline verification of answers, checkpoints and proofs (used by
//! `credit-lists receipt verify` and the tests). The formats are in `docs/credit-checks.md`,
//! "Signed receipts".
//!
//! - **Leaf:** a receipt's hash ([`super::receipt_hash`]): SHA-256(0x00 ‖ JCS(stored receipt)).
//! - **Group proof:** the receipts of one group commit (see
//!   [`super::receipt_queue::answer_group`]; a request's receipts consecutive and in order) form
//!   an RFC 9162 tree; its root is signed once, and each answer carries its leaf index, audit
//!   path, the root and the signature.
//! - **Signed statements** are the RFC 8785 canonical JSON of an object with a `label` (domain
//!   separation: [`GROUP_LABEL`], [`CHECKPOINT_LABEL`]), `kid`, `root_hash` (hex), `signed_at`
//!   (RFC 3339 UTC, microseconds) and `tree_size`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::sync::Arc;

use super::receipt_hash::{canonical_bytes, leaf_hash};
use crate::config::Settings;

pub type Hash = [u8; 32];

/// Label of a signed receipt group root.
pub const GROUP_LABEL: &str = "credit-lists/receipt-group/v1";
/// Label of a signed log checkpoint.
pub const CHECKPOINT_LABEL: &str = "credit-lists/receipt-checkpoint/v1";

// ---------------------------------------------------------------- Merkle tree (RFC 9162 §2.1)

/// An interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n ≥ 2): where RFC 9162 splits a tree of `n` leaves.
pub fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// [`split`] for a slice's length.
fn split_len(n: usize) -> usize {
    split(n as u64) as usize
}

/// `MTH(D[n])`: the tree head of `leaves` (leaf hashes).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split_len(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// `PATH(m, D[n])`: the audit path of leaf `m`.
pub fn inclusion_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split_len(n);
    if m < k {
        let mut p = inclusion_path(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = inclusion_path(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Every leaf's audit path at once (a batch's answers), in O(n log n).
pub fn all_paths(leaves: &[Hash]) -> (Hash, Vec<Vec<Hash>>) {
    fn go(leaves: &[Hash], paths: &mut [Vec<Hash>]) -> Hash {
        let n = leaves.len();
        if n == 1 {
            return leaves[0];
        }
        let k = split_len(n);
        let (pl, pr) = paths.split_at_mut(k);
        let l = go(&leaves[..k], pl);
        let r = go(&leaves[k..], pr);
        for p in pl.iter_mut() {
            p.push(r);
        }
        for p in pr.iter_mut() {
            p.push(l);
        }
        node_hash(&l, &r)
    }
    let mut paths = vec![Vec::new(); leaves.len()];
    if leaves.is_empty() {
        return (root(leaves), paths);
    }
    let r = go(leaves, &mut paths);
    (r, paths)
}

/// `PROOF(m, D[n])`: the consistency proof from size `m` (1 ≤ m ≤ n) to `leaves.len()`.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn sub(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if whole { vec![] } else { vec![root(leaves)] };
        }
        let k = split_len(n);
        if m <= k {
            let mut p = sub(m, &leaves[..k], whole);
            p.push(root(&leaves[k..]));
            p
        } else {
            let mut p = sub(m - k, &leaves[k..], false);
            p.push(root(&leaves[..k]));
            p
        }
    }
    if m == 0 || m > leaves.len() {
        return vec![];
    }
    sub(m, leaves, true)
}

/// Verifies an audit path (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root_hash: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root_hash
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_hash: &Hash,
    second_hash: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_hash == second_hash;
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_hash);
    }
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let Some(first_node) = path.first() else {
        return false;
    };
    let (mut fr, mut sr) = (*first_node, *first_node);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_hash && sr == *second_hash && s == 0
}

/// The right edge of a tree: the heads of its perfect subtrees, largest first, with their
/// heights. Appending a leaf and taking the root cost O(log n): the log keeps this, not its
/// leaves, to sign checkpoints.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Frontier(pub Vec<(u32, String)>);

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut height = 0u32;
        while let Some((top, _)) = self.0.last() {
            if *top != height {
                break;
            }
            let (_, left) = self.0.pop().expect("looked at above");
            h = node_hash(&unhex(&left).unwrap_or_default(), &h);
            height += 1;
        }
        self.0.push((height, hex::encode(h)));
    }

    pub fn root(&self) -> Hash {
        let mut it = self
            .0
            .iter()
            .rev()
            .map(|(_, h)| unhex(h).unwrap_or_default());
        let Some(mut r) = it.next() else {
            return root(&[]);
        };
        for left in it {
            r = node_hash(&left, &r);
        }
        r
    }
}

/// 64 hex characters → 32 bytes.
pub fn unhex(s: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

// ---------------------------------------------------------------- keys

/// A key id: the first 16 characters of base64url(SHA-256(public key)).
pub fn kid_of(public: &VerifyingKey) -> String {
    let d = Sha256::digest(public.as_bytes());
    URL_SAFE_NO_PAD.encode(d)[..16].to_string()
}

/// A published key: public part and validity (`None`: open).
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub kid: String,
    pub key: VerifyingKey,
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
    pub current: bool,
}

/// The signing key and every published key.
pub struct ReceiptKeys {
    signing: SigningKey,
    pub kid: String,
    pub published: Vec<PublicKey>,
}

impl ReceiptKeys {
    /// The keys of one Ed25519 seed, published alone (no earlier keys).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let public = signing.verifying_key();
        let kid = kid_of(&public);
        let published = vec![PublicKey {
            kid: kid.clone(),
            key: public,
            not_before: None,
            not_after: None,
            current: true,
        }];
        ReceiptKeys {
            signing,
            kid,
            published,
        }
    }

    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let seed = settings
            .require_receipt_signing_key()
            .map_err(|e| e.to_string())?;
        let ReceiptKeys {
            signing,
            kid,
            mut published,
        } = Self::from_seed(&seed);
        let public = signing.verifying_key();
        for p in &settings.receipt_previous_keys {
            let bytes = unhex(p.public_key.trim())
                .ok_or("receipt_previous_keys: public_key is not 64 hex characters")?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| "receipt_previous_keys: public_key is no Ed25519 public key")?;
            if key == public {
                return Err("receipt_previous_keys lists the current signing key".into());
            }
            published.push(PublicKey {
                kid: kid_of(&key),
                key,
                not_before: Some(p.not_before),
                not_after: Some(p.not_after),
                current: false,
            });
        }
        Ok(ReceiptKeys {
            signing,
            kid,
            published,
        })
    }

    /// The JWK set served at `GET /api/v1/receipt-keys` (RFC 7517, RFC 8037).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.published.iter().map(jwk).collect();
        json!({ "keys": keys })
    }

    /// Signs a statement (see [`statement`]) now; returns (signed_at, signature base64url).
    fn sign(&self, label: &str, size: u64, root_hash: &Hash) -> (String, String) {
        let signed_at = now_rfc3339();
        let msg = statement(label, &self.kid, root_hash, &signed_at, size);
        let sig = self.signing.sign(&msg);
        (signed_at, URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// Signs the root of one group's receipts and returns each receipt's proof, in order.
    pub fn sign_group(&self, leaves: &[Hash]) -> Vec<LeafProof> {
        let (root_hash, paths) = all_paths(leaves);
        let size = leaves.len() as u64;
        let (signed_at, signature) = self.sign(GROUP_LABEL, size, &root_hash);
        let text = |s: &str| Value::from(s).to_string();
        let group = Arc::new(SignedGroup {
            head: format!(
                "{{\"alg\":\"EdDSA\",\"kid\":{},\"signed_at\":{},\"tree_size\":{size},\"leaf_index\":",
                text(&self.kid),
                text(&signed_at),
            ),
            tail: format!(
                ",\"root_hash\":\"{}\",\"signature\":{}",
                hex::encode(root_hash),
                text(&signature),
            ),
        });
        paths
            .into_iter()
            .enumerate()
            .map(|(i, audit_path)| LeafProof {
                group: Arc::clone(&group),
                leaf_index: i as u64,
                audit_path,
            })
            .collect()
    }

    /// Signs a log checkpoint.
    pub fn sign_checkpoint(&self, size: u64, root_hash: &Hash) -> Checkpoint {
        let (signed_at, signature) = self.sign(CHECKPOINT_LABEL, size, root_hash);
        Checkpoint {
            tree_size: size,
            root_hash: hex::encode(root_hash),
            signed_at,
            kid: self.kid.clone(),
            signature,
        }
    }
}

fn jwk(k: &PublicKey) -> Value {
    let t = |d: Option<chrono::DateTime<chrono::Utc>>| d.map(|d| rfc3339(&d));
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(k.key.as_bytes()),
        "kid": k.kid,
        "use": "sig",
        "alg": "EdDSA",
        "status": if k.current { "current" } else { "retired" },
        "not_before": t(k.not_before),
        "not_after": t(k.not_after),
    })
}

fn rfc3339(d: &chrono::DateTime<chrono::Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn now_rfc3339() -> String {
    rfc3339(&chrono::Utc::now())
}

/// The exact bytes signed: JCS of `{"kid","label","root_hash","signed_at","tree_size"}`.
pub fn statement(label: &str, kid: &str, root_hash: &Hash, signed_at: &str, size: u64) -> Vec<u8> {
    canonical_bytes(&json!({
        "label": label,
        "kid": kid,
        "root_hash": hex::encode(root_hash),
        "signed_at": signed_at,
        "tree_size": size,
    }))
}

/// The `proof` of a check answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupProof {
    /// Always `EdDSA` (Ed25519).
    pub alg: String,
    /// The signing key's id in `GET /api/v1/receipt-keys`.
    pub kid: String,
    /// When the root was signed (RFC 3339, UTC).
    pub signed_at: String,
    /// How many receipts the signed group holds: this request's checks and those of the other
    /// requests answered at the same moment (each request's consecutive and in order).
    pub tree_size: u64,
    /// This receipt's position in the group.
    pub leaf_index: u64,
    /// RFC 9162 audit path from the receipt's hash to `root_hash` (hex).
    pub audit_path: Vec<String>,
    /// The group's RFC 9162 tree head (hex).
    pub root_hash: String,
    /// Ed25519 signature (base64url, no padding) of the statement (`docs/credit-checks.md`).
    pub signature: String,
    /// The stored receipt, when it differs from the answer sent (an individual's ID number is
    /// stored masked): the proof covers this. Absent: the proof covers the answer itself
    /// without `proof`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<Value>,
}

/// What the proofs of one signed group share, as JSON text written once for the group: the
/// members of [`GroupProof`] before `leaf_index`'s value (`head`) and after `audit_path`
/// (`tail`).
#[derive(Debug)]
pub struct SignedGroup {
    head: String,
    tail: String,
}

/// A receipt's proof as the receipt writer hands it to the request: its group's shared part and
/// its own leaf index and audit path. [`LeafProof::json`] writes it as the [`GroupProof`] it
/// stands for, byte for byte what `serde_json` writes for that `GroupProof`, without a string
/// for each of its members: the proofs of a group commit are made on the writer's thread, one per
/// receipt (performance.md, twenty-first round).
#[derive(Debug)]
pub struct LeafProof {
    group: Arc<SignedGroup>,
    /// This receipt's position in the group.
    pub leaf_index: u64,
    audit_path: Vec<Hash>,
}

impl LeafProof {
    /// The proof as JSON text; `receipt` (JSON text of the stored receipt, when it differs from
    /// the answer sent) becomes its `receipt` member.
    pub fn json(&self, receipt: Option<&str>) -> String {
        let SignedGroup { head, tail } = &*self.group;
        let mut out = String::with_capacity(
            head.len()
                + tail.len()
                + 36
                + 67 * self.audit_path.len()
                + receipt.map_or(0, |r| r.len() + 12),
        );
        out.push_str(head);
        // Writing to a `String` cannot fail.
        let _ = write!(out, "{}", self.leaf_index);
        out.push_str(",\"audit_path\":[");
        for (i, hash) in self.audit_path.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut text = [0u8; 64];
            out.push('"');
            // 32 bytes always fit 64 hex digits, which are ASCII.
            if hex::encode_to_slice(hash, &mut text).is_ok() {
                out.push_str(std::str::from_utf8(&text).unwrap_or_default());
            }
            out.push('"');
        }
        out.push(']');
        out.push_str(tail);
        if let Some(r) = receipt {
            out.push_str(",\"receipt\":");
            out.push_str(r);
        }
        out.push('}');
        out
    }
}

/// A signed checkpoint of the receipt log.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Receipts in the log at this checkpoint.
    pub tree_size: u64,
    /// RFC 9162 tree head over their hashes, in log order (hex).
    pub root_hash: String,
    /// RFC 3339, UTC.
    pub signed_at: String,
    pub kid: String,
    /// Ed25519 signature (base64url, no padding) of the checkpoint statement.
    pub signature: String,
}

// ---------------------------------------------------------------- verification

/// The keys of a JWK set (as served at `GET /api/v1/receipt-keys`).
pub fn keys_from_jwks(jwks: &Value) -> Result<Vec<PublicKey>, String> {
    let keys = jwks["keys"]
        .as_array()
        .ok_or("the key set has no `keys` array")?;
    let time = |v: &Value| -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| Some(d.with_timezone(&chrono::Utc)))
                .map_err(|e| format!("bad time {s:?} in the key set: {e}")),
            _ => Err("bad validity in the key set".into()),
        }
    };
    let mut out = Vec::new();
    for k in keys {
        if k["kty"] != "OKP" || k["crv"] != "Ed25519" {
            continue;
        }
        let x = URL_SAFE_NO_PAD
            .decode(k["x"].as_str().unwrap_or_default())
            .map_err(|_| "a key's `x` is not base64url")?;
        let bytes: [u8; 32] = x.try_into().map_err(|_| "a key's `x` is not 32 bytes")?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| "a key is no Ed25519 key")?;
        out.push(PublicKey {
            kid: k["kid"].as_str().unwrap_or_default().to_string(),
            key,
            not_before: time(&k["not_before"])?,
            not_after: time(&k["not_after"])?,
            current: k["status"] == "current",
        });
    }
    Ok(out)
}

/// Checks a signature by key `kid` over a statement, and that `signed_at` lies in the key's
/// validity.
fn verify_statement(
    keys: &[PublicKey],
    label: &str,
    kid: &str,
    root_hash: &Hash,
    signed_at: &str,
    size: u64,
    signature: &str,
) -> Result<(), String> {
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| format!("no published key has the id {kid:?}"))?;
    let at = chrono::DateTime::parse_from_rfc3339(signed_at)
        .map_err(|e| format!("signed_at {signed_at:?} is no RFC 3339 time: {e}"))?
        .with_timezone(&chrono::Utc);
    if key.not_before.is_some_and(|t| at < t) || key.not_after.is_some_and(|t| at > t) {
        return Err(format!(
            "signed at {signed_at}, outside the validity of key {kid}"
        ));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .ok_or("the signature is not 64 bytes of base64url")?;
    let msg = statement(label, kid, root_hash, signed_at, size);
    key.key
        .verify_strict(&msg, &Signature::from_bytes(&sig))
        .map_err(|_| "the signature does not verify".to_string())
}

fn hashes(v: &[String]) -> Result<Vec<Hash>, String> {
    v.iter()
        .map(|h| unhex(h).ok_or_else(|| format!("{h:?} is not a 64-hex-character hash")))
        .collect()
}

/// What a verified answer proves.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    pub check_id: Option<i64>,
    /// The receipt's hash (its leaf in the log), hex.
    pub receipt_hash: String,
    pub kid: String,
}

/// The stored receipt an answer's proof covers: `proof.receipt` when present, else the answer
/// without `proof`.
pub fn covered_receipt(answer: &Value) -> Result<(Value, GroupProof), String> {
    let obj = answer
        .as_object()
        .ok_or("the answer is not a JSON object")?;
    let proof: GroupProof = serde_json::from_value(
        obj.get("proof")
            .cloned()
            .ok_or("the answer has no `proof`")?,
    )
    .map_err(|e| format!("the answer's `proof` is malformed: {e}"))?;
    let receipt = match &proof.receipt {
        Some(r) => r.clone(),
        None => {
            let mut o = obj.clone();
            o.remove("proof");
            Value::Object(o)
        }
    };
    Ok((receipt, proof))
}

/// Whether `stored` is `sent` with some characters of its strings replaced by `*` (how a
/// receipt masks an ID number the answer gives in full), and nothing else changed.
pub fn masks(sent: &Value, stored: &Value) -> bool {
    match (sent, stored) {
        (Value::String(a), Value::String(b)) => {
            a.chars().count() == b.chars().count()
                && a.chars().zip(b.chars()).all(|(x, y)| x == y || y == '*')
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| masks(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| masks(x, y)))
        }
        (a, b) => a == b,
    }
}

/// Verifies a check answer offline (single, or one `check` of a batch) with the published keys.
pub fn verify_answer(answer: &Value, keys: &[PublicKey]) -> Result<VerifiedReceipt, String> {
    let (receipt, proof) = covered_receipt(answer)?;
    if proof.alg != "EdDSA" {
        return Err(format!("unknown proof algorithm {:?}", proof.alg));
    }
    if proof.receipt.is_some() {
        let mut sent = answer.clone();
        if let Some(o) = sent.as_object_mut() {
            o.remove("proof");
        }
        if !masks(&sent, &receipt) {
            return Err(
                "the answer differs from the receipt its proof covers by more than masked \
                 characters"
                    .into(),
            );
        }
    }
    let leaf = leaf_hash(&canonical_bytes(&receipt));
    let root_hash = unhex(&proof.root_hash).ok_or("root_hash is not a hash")?;
    let path = hashes(&proof.audit_path)?;
    if !verify_inclusion(&leaf, proof.leaf_index, proof.tree_size, &path, &root_hash) {
        return Err("the receipt is not in the signed group (its hash or the path differs)".into());
    }
    verify_statement(
        keys,
        GROUP_LABEL,
        &proof.kid,
        &root_hash,
        &proof.signed_at,
        proof.tree_size,
        &proof.signature,
    )?;
    Ok(VerifiedReceipt {
        check_id: receipt["check_id"].as_i64(),
        receipt_hash: hex::encode(leaf),
        kid: proof.kid,
    })
}

/// Verifies a checkpoint's signature.
pub fn verify_checkpoint(cp: &Checkpoint, keys: &[PublicKey]) -> Result<(), String> {
    let root_hash = unhex(&cp.root_hash).ok_or("root_hash is not a hash")?;
    verify_statement(
        keys,
        CHECKPOINT_LABEL,
        &cp.kid,
        &root_hash,
        &cp.signed_at,
        cp.tree_size,
        &cp.signature,
    )
}

/// An inclusion proof of a receipt in the log, as served.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionProof {
    pub check_id: i32,
    /// The receipt's position in the log.
    pub leaf_index: u64,
    /// The receipt's hash (hex).
    pub leaf_hash: String,
    /// The log size the path leads to (a checkpoint's `tree_size`).
    pub tree_size: u64,
    /// RFC 9162 audit path (hex).
    pub audit_path: Vec<String>,
}

/// Verifies an inclusion proof against a checkpoint (whose signature the caller checked), and
/// that it is about `receipt_hash` when given.
pub fn verify_log_inclusion(
    proof: &InclusionProof,
    cp: &Checkpoint,
    receipt_hash: Option<&str>,
) -> Result<(), String> {
    if let Some(h) = receipt_hash {
        if h != proof.leaf_hash {
            return Err("the inclusion proof is about another receipt".into());
        }
    }
    if proof.tree_size != cp.tree_size {
        return Err(format!(
            "the inclusion proof is for log size {}, the checkpoint has {}",
            proof.tree_size, cp.tree_size
        ));
    }
    let leaf = unhex(&proof.leaf_hash).ok_or("leaf_hash is not a hash")?;
    let root_hash = unhex(&cp.root_hash).ok_or("root_hash is not a hash")?;
    if !verify_inclusion(
        &leaf,
        proof.leaf_index,
        proof.tree_size,
        &hashes(&proof.audit_path)?,
        &root_hash,
    ) {
        return Err("the receipt is not in the log at this checkpoint".into());
    }
    Ok(())
}

/// A consistency proof between two log sizes, as served.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    /// The older size.
    pub first: u64,
    /// The newer size.
    pub second: u64,
    /// RFC 9162 consistency proof (hex).
    pub proof: Vec<String>,
}

/// Verifies a consistency proof between two checkpoints (signatures checked by the caller).
pub fn verify_log_consistency(
    p: &ConsistencyProof,
    old: &Checkpoint,
    new: &Checkpoint,
) -> Result<(), String> {
    if p.first != old.tree_size || p.second != new.tree_size {
        return Err("the consistency proof is for other sizes".into());
    }
    let a = unhex(&old.root_hash).ok_or("root_hash is not a hash")?;
    let b = unhex(&new.root_hash).ok_or("root_hash is not a hash")?;
    if !verify_consistency(p.first, p.second, &a, &b, &hashes(&p.proof)?) {
        return Err("the newer log does not extend the older one".into());
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{} is not what was expected: {e}", path.display()))
}

/// `credit-lists receipt verify`: a saved answer against a saved key set, and optionally an
/// inclusion proof against a checkpoint. Returns what was verified.
pub fn verify_files(
    answer: &std::path::Path,
    jwks: &std::path::Path,
    inclusion: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<String, String> {
    let keys = keys_from_jwks(&read_json(jwks)?)?;
    let a: Value = read_json(answer)?;
    let v = verify_answer(&a, &keys).map_err(|e| format!("receipt does not verify: {e}"))?;
    let mut out = format!(
        "receipt {} verifies: hash {}, signed by key {}",
        v.check_id.map_or("?".into(), |i| i.to_string()),
        v.receipt_hash,
        v.kid
    );
    if let Some((proof, cp)) = inclusion {
        let proof: InclusionProof = read_json(proof)?;
        let cp: Checkpoint = read_json(cp)?;
        verify_checkpoint(&cp, &keys).map_err(|e| format!("checkpoint does not verify: {e}"))?;
        verify_log_inclusion(&proof, &cp, Some(&v.receipt_hash))
            .map_err(|e| format!("inclusion proof does not verify: {e}"))?;
        out.push_str(&format!(
            "; in the receipt log at position {} of the signed checkpoint of {} receipt(s)",
            proof.leaf_index, cp.tree_size
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[i as u8])).collect()
    }

    #[test]
    fn paths_and_consistency_proofs_verify_for_every_size() {
        for n in 1..=20usize {
            let l = leaves(n);
            let r = root(&l);
            let (r2, paths) = all_paths(&l);
            assert_eq!(r, r2);
            let mut f = Frontier::default();
            for x in &l {
                f.push(*x);
            }
            assert_eq!(f.root(), r, "frontier root at {n}");
            for m in 0..n {
                let p = inclusion_path(m, &l);
                assert_eq!(p, paths[m]);
                assert!(verify_inclusion(&l[m], m as u64, n as u64, &p, &r));
                assert!(!verify_inclusion(&l[(m + 1) % n], m as u64, n as u64, &p, &r) || n == 1);
            }
            for m in 1..=n {
                let p = consistency_proof(m, &l);
                let old = root(&l[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &old, &r, &p),
                    "{m}->{n}"
                );
                if m < n {
                    let mut bad = l[..m].to_vec();
                    bad[0] = leaf_hash(b"x");
                    assert!(!verify_consistency(m as u64, n as u64, &root(&bad), &r, &p));
                }
            }
        }
    }

    /// A proof written by hand is what `serde_json` writes for the `GroupProof` it stands for,
    /// with and without a stored receipt (text that needs escapes, Chinese, nested objects),
    /// for groups of every shape up to 9 receipts.
    #[test]
    fn a_leaf_proof_is_written_as_serde_json_writes_its_group_proof() {
        let keys = ReceiptKeys::from_seed(&[3; 32]);
        let receipt = json!({
            "advice": "restrict",
            "check_id": 12,
            "reasons": [{"code": "black_list", "message": "失信 \"名单\"\n\t\u{1}/\\"}],
            "subject": {"id_number": "110105********002X", "name": "张三"},
        });
        let receipt_text = serde_json::to_string(&receipt).unwrap();
        for n in 1..=9 {
            let proofs = keys.sign_group(&leaves(n));
            assert_eq!(proofs.len(), n);
            for (i, p) in proofs.iter().enumerate() {
                assert_eq!(p.leaf_index, i as u64);
                let bare = p.json(None);
                let mut parsed: GroupProof = serde_json::from_str(&bare).unwrap();
                assert_eq!(parsed.alg, "EdDSA");
                assert_eq!(parsed.kid, keys.kid);
                assert_eq!(parsed.tree_size, n as u64);
                assert_eq!(parsed.leaf_index, i as u64);
                assert_eq!(parsed.audit_path.len(), inclusion_path(i, &leaves(n)).len());
                assert_eq!(serde_json::to_string(&parsed).unwrap(), bare);
                parsed.receipt = Some(receipt.clone());
                assert_eq!(
                    p.json(Some(&receipt_text)),
                    serde_json::to_string(&parsed).unwrap()
                );
                // And the proof verifies the leaf it was made for.
                let path = hashes(&parsed.audit_path).unwrap();
                let root_hash = unhex(&parsed.root_hash).unwrap();
                assert!(verify_inclusion(
                    &leaves(n)[i],
                    parsed.leaf_index,
                    parsed.tree_size,
                    &path,
                    &root_hash
                ));
            }
        }
    }

    #[test]
    fn rfc6962_empty_and_known_roots() {
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
