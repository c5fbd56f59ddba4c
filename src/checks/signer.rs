//! The receipt signer: one thread per instance that signs the receipts of every check answered at
//! the same moment under **one** Ed25519 signature (the signing of 信用核查 answers, amortised).
//!
//! A check request hands its receipts' leaf hashes (computed on its own worker, after the group
//! commit gave them ids) to the signer and awaits its proofs. The signer takes every request
//! waiting at that moment (like the receipt writer's group commit), builds one RFC 9162 tree over
//! their leaves — each request's leaves consecutive and in order, never split between two trees —
//! signs its root once ([`ReceiptKeys::sign_group`]) and gives each request the proofs of its
//! leaves. Each answer still verifies on its own: its leaf, audit path, root and signature.
//! Under load one signature serves tens of requests; alone, a request is a tree of its own, as
//! before. The format is in `docs/credit-checks.md`, "Signed receipts".

use std::sync::mpsc;
use std::sync::Arc;

use super::signing::{GroupProof, Hash, ReceiptKeys};
use crate::error::ApiError;

/// Most leaves signed under one root. A request is never split, so one batch of 1,000 codes
/// may exceed it alone.
const MAX_LEAVES: usize = 8_192;

struct Job {
    leaves: Vec<Hash>,
    reply: tokio::sync::oneshot::Sender<Vec<GroupProof>>,
}

/// Hands receipts to the signer thread; see the module documentation.
pub struct GroupSigner {
    tx: mpsc::Sender<Job>,
}

impl GroupSigner {
    /// Starts the signer thread; it ends when the signer is dropped.
    pub fn start(keys: Arc<ReceiptKeys>) -> Result<Self, String> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("receipt-signer".into())
            .spawn(move || signer_loop(&keys, rx))
            .map_err(|e| format!("the receipt signer thread does not start: {e}"))?;
        Ok(GroupSigner { tx })
    }

    /// The proofs of `leaves`, in order, once a root covering them is signed. Awaits without
    /// occupying a thread.
    pub async fn sign(&self, leaves: Vec<Hash>) -> Result<Vec<GroupProof>, ApiError> {
        if leaves.is_empty() {
            return Ok(vec![]);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job { leaves, reply })
            .map_err(|_| ApiError::unavailable("the receipt signer has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::unavailable("the receipt signer has stopped"))
    }
}

fn signer_loop(keys: &ReceiptKeys, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let jobs = super::receipt_queue::gather_up_to(first, &rx, MAX_LEAVES, |j| j.leaves.len());
        let groups: Vec<&[Hash]> = jobs.iter().map(|j| j.leaves.as_slice()).collect();
        let proofs = sign_together(keys, &groups);
        for (job, mine) in jobs.into_iter().zip(proofs) {
            // A request that went away (client gone) no longer waits: nothing to do.
            let _ = job.reply.send(mine);
        }
    }
}

/// Signs the leaves of several requests under one root: each request's leaves consecutive, in
/// order; returns each request's proofs.
fn sign_together(keys: &ReceiptKeys, requests: &[&[Hash]]) -> Vec<Vec<GroupProof>> {
    let mut proofs = match requests {
        [one] => keys.sign_group(one),
        _ => keys.sign_group(&requests.concat()),
    };
    let mut out: Vec<Vec<GroupProof>> = requests
        .iter()
        .rev()
        .map(|r| proofs.split_off(proofs.len() - r.len()))
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::super::receipt_hash::{canonical_bytes, leaf_hash};
    use super::super::signing::verify_answer;
    use super::*;
    use serde_json::{json, Value};

    fn keys() -> Arc<ReceiptKeys> {
        Arc::new(ReceiptKeys::from_seed(&[7; 32]))
    }

    /// A receipt as stored, and its leaf hash.
    fn receipt(i: usize) -> (Value, Hash) {
        let v = json!({"check_id": i, "subject_code": format!("code-{i}"), "advice": "proceed"});
        let leaf = leaf_hash(&canonical_bytes(&v));
        (v, leaf)
    }

    #[tokio::test]
    async fn concurrent_requests_each_get_proofs_that_verify_alone() {
        let keys = keys();
        let signer = Arc::new(GroupSigner::start(keys.clone()).unwrap());
        // 40 requests of 1 to 5 receipts each, sent at once.
        let requests: Vec<Vec<(Value, Hash)>> = (0..40usize)
            .map(|r| (0..r % 5 + 1).map(|i| receipt(r * 10 + i)).collect())
            .collect();
        let tasks: Vec<_> = requests
            .iter()
            .map(|rs| {
                let s = signer.clone();
                let leaves = rs.iter().map(|(_, l)| *l).collect();
                tokio::spawn(async move { s.sign(leaves).await.unwrap() })
            })
            .collect();
        for (rs, task) in requests.iter().zip(tasks) {
            let proofs = task.await.unwrap();
            assert_eq!(proofs.len(), rs.len());
            for (i, ((receipt, _), p)) in rs.iter().zip(&proofs).enumerate() {
                // A request's receipts are consecutive and in order under one root.
                assert_eq!(p.leaf_index, proofs[0].leaf_index + i as u64);
                assert_eq!(p.root_hash, proofs[0].root_hash);
                let mut answer = receipt.clone();
                answer["proof"] = serde_json::to_value(p).unwrap();
                verify_answer(&answer, &keys.published).unwrap();
                // One changed byte of the receipt, and it no longer verifies.
                answer["advice"] = json!("proceeD");
                assert!(verify_answer(&answer, &keys.published).is_err());
            }
        }
    }

    #[test]
    fn requests_signed_together_share_one_signature_and_each_answer_verifies_alone() {
        let keys = keys();
        let requests: Vec<Vec<(Value, Hash)>> = [1usize, 3, 1, 1000, 2]
            .iter()
            .enumerate()
            .map(|(r, &n)| (0..n).map(|i| receipt(r * 10_000 + i)).collect())
            .collect();
        let leaves: Vec<Vec<Hash>> = requests
            .iter()
            .map(|rs| rs.iter().map(|(_, l)| *l).collect())
            .collect();
        let groups: Vec<&[Hash]> = leaves.iter().map(Vec::as_slice).collect();
        let proofs = sign_together(&keys, &groups);
        assert_eq!(proofs.len(), requests.len());
        let mut start = 0;
        for (rs, ps) in requests.iter().zip(&proofs) {
            assert_eq!(ps.len(), rs.len());
            for (i, ((receipt, _), p)) in rs.iter().zip(ps).enumerate() {
                assert_eq!(p.tree_size, 1007);
                assert_eq!(p.leaf_index, (start + i) as u64);
                assert_eq!(p.signature, proofs[0][0].signature, "one signature");
                let mut answer = receipt.clone();
                answer["proof"] = serde_json::to_value(p).unwrap();
                verify_answer(&answer, &keys.published).unwrap();
            }
            start += rs.len();
        }
        // Another request's proof does not fit this receipt.
        let mut answer = requests[0][0].0.clone();
        answer["proof"] = serde_json::to_value(&proofs[1][0]).unwrap();
        assert!(verify_answer(&answer, &keys.published).is_err());
    }

    #[tokio::test]
    async fn nothing_to_sign_is_no_proof() {
        let signer = GroupSigner::start(keys()).unwrap();
        assert!(signer.sign(vec![]).await.unwrap().is_empty());
    }
}
