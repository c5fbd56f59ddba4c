//! Signed receipts (issue 24): every check answer verifies offline with the published keys; the
//! receipt log's checkpoints, inclusion and consistency proofs verify; tampering with a receipt
//! row is detected; rotation keeps old answers verifiable; two instances feed one log.

use base64::Engine;
use credit_lists::auth::Role;
use credit_lists::checks::signing::{
    keys_from_jwks, verify_answer, verify_checkpoint, verify_log_consistency, verify_log_inclusion,
    Checkpoint, ConsistencyProof, InclusionProof, PublicKey,
};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::entries::{id_number, uscc};
use crate::helpers::*;

async fn jwks(app: &TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/api/v1/receipt-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn keys(app: &TestApp) -> Vec<PublicKey> {
    keys_from_jwks(&jwks(app).await).unwrap()
}

async fn check(app: &TestApp, token: &str, code: &str) -> Value {
    let res = app
        .post(
            "/api/v1/credit-checks",
            token,
            json!({"subject_code": code, "field": "administrative_licensing"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

/// A batch check (`administrative_licensing`), answered 200; its body.
async fn batch(app: &TestApp, token: &str, codes: &[String]) -> Value {
    let res = app
        .post(
            "/api/v1/credit-checks/batch",
            token,
            json!({"subject_codes": codes, "field": "administrative_licensing"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn latest(app: &TestApp) -> Checkpoint {
    let res = app
        .client
        .get(app.url("/api/v1/receipt-checkpoints/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn inclusion(app: &TestApp, token: &str, id: i64, size: u64) -> InclusionProof {
    let res = app
        .get(
            &format!("/api/v1/credit-checks/{id}/inclusion?tree_size={size}"),
            token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn consistency(app: &TestApp, from: u64, to: u64) -> reqwest::Response {
    app.client
        .get(app.url(&format!(
            "/api/v1/receipt-checkpoints/consistency?first={from}&second={to}"
        )))
        .send()
        .await
        .unwrap()
}

/// The consistency check from `from` to `to` fails with 409 `receipt_log_mismatch` naming receipt
/// `id`.
async fn consistency_names_receipt(app: &TestApp, from: u64, to: u64, id: i64) {
    let res = consistency(app, from, to).await;
    let body = assert_problem(res, StatusCode::CONFLICT, "receipt_log_mismatch").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("receipt {id} ")), "{body}");
}

#[tokio::test]
async fn single_and_batch_answers_verify_offline_and_a_changed_byte_fails() {
    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let jwks_v = jwks(&app).await;
    assert_eq!(jwks_v["keys"][0]["kty"], "OKP");
    assert_eq!(jwks_v["keys"][0]["crv"], "Ed25519");
    assert_eq!(jwks_v["keys"][0]["status"], "current");
    let keys = keys_from_jwks(&jwks_v).unwrap();

    let single = check(&app, &approver.token, &uscc(1)).await;
    let v = verify_answer(&single, &keys).unwrap();
    assert_eq!(v.check_id, single["check_id"].as_i64());
    assert!(single["proof"].get("receipt").is_none());
    // The hash is that of the stored receipt as GET returns it.
    let id = single["check_id"].as_i64().unwrap();
    let stored: Value = app
        .get(&format!("/api/v1/credit-checks/{id}"), &approver.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(stored.get("proof").is_none());
    let mut unproved = single.clone();
    unproved.as_object_mut().unwrap().remove("proof");
    assert_eq!(unproved, stored);

    // One changed byte anywhere: in the answer, in the path, in the signature.
    let mut t = single.clone();
    t["advice"] = json!("green_channel");
    assert!(verify_answer(&t, &keys).is_err());
    let mut t = single.clone();
    t["subject_code"] = json!(uscc(2));
    assert!(verify_answer(&t, &keys).is_err());
    let mut t = single.clone();
    let sig = t["proof"]["signature"].as_str().unwrap().to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    t["proof"]["signature"] = json!(format!("{flipped}{}", &sig[1..]));
    assert!(verify_answer(&t, &keys).is_err());
    let mut t = single.clone();
    t["proof"]["signed_at"] = json!("2020-01-01T00:00:00.000000Z");
    assert!(verify_answer(&t, &keys).is_err());
    let mut t = single.clone();
    t["proof"]["kid"] = json!("unknown");
    assert!(verify_answer(&t, &keys).is_err());

    // A batch: an enterprise, an individual (stored masked), an invalid code, another one.
    let person = id_number(7);
    let res = app
        .post(
            "/api/v1/credit-checks/batch",
            &approver.token,
            json!({"subject_codes": [uscc(3), person, "nonsense", uscc(4)],
                   "field": "administrative_licensing"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b: Value = res.json().await.unwrap();
    let checks: Vec<&Value> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == 201)
        .map(|r| &r["check"])
        .collect();
    assert_eq!(checks.len(), 3);
    let root = checks[0]["proof"]["root_hash"].clone();
    for (i, c) in checks.iter().enumerate() {
        verify_answer(c, &keys).unwrap();
        assert_eq!(c["proof"]["tree_size"], 3);
        assert_eq!(c["proof"]["leaf_index"], i);
        assert_eq!(c["proof"]["root_hash"], root, "one signed root per request");
    }
    // The individual's answer gives the number back as sent; its proof covers the stored
    // receipt, which holds it masked, and says so.
    let ind = checks[1];
    assert_eq!(ind["subject_code"], person.as_str());
    let covered = &ind["proof"]["receipt"];
    assert_ne!(covered["subject_code"], person.as_str());
    assert!(covered["subject_code"]
        .as_str()
        .unwrap()
        .contains("********"));
    let id = ind["check_id"].as_i64().unwrap();
    let stored: Value = app
        .get(&format!("/api/v1/credit-checks/{id}"), &approver.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(&stored, covered);
    // Unmasking the covered receipt breaks the proof.
    let mut t = ind.clone();
    t["proof"]["receipt"]["subject_code"] = json!(person);
    assert!(verify_answer(&t, &keys).is_err());
    // Moving an answer to another position of the group fails.
    let mut t = checks[0].clone();
    t["proof"]["leaf_index"] = json!(2);
    assert!(verify_answer(&t, &keys).is_err());
}

#[tokio::test]
async fn an_answer_signed_under_a_retired_key_still_verifies_after_rotation() {
    let (app, handle) = spawn_on_stoppable_fresh().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let old_answer = check(&app, &approver.token, &uscc(11)).await;
    let old_jwks = jwks(&app).await;
    let old_cp = latest(&app).await;
    let x = old_jwks["keys"][0]["x"].as_str().unwrap();
    let old_public = hex::encode(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .unwrap(),
    );
    handle.stop(true).await;

    const NEW_KEY: &str = "6e6577207265636569707420736967e96e67206b657920666f722074657374ff";
    let app2 = spawn_on(&app.db_url, |s| {
        s.receipt_signing_key = Some(NEW_KEY.into());
        s.receipt_previous_keys = vec![credit_lists::config::PreviousReceiptKey {
            public_key: old_public.clone(),
            not_before: chrono::Utc::now() - chrono::Duration::days(30),
            not_after: chrono::Utc::now(),
        }];
    })
    .await;
    let new_jwks = jwks(&app2).await;
    let ks = new_jwks["keys"].as_array().unwrap();
    assert_eq!(ks.len(), 2);
    assert_eq!(ks[0]["status"], "current");
    assert_eq!(ks[1]["status"], "retired");
    assert_eq!(ks[1]["x"], x);
    assert!(ks[1]["not_after"].is_string());
    let keys = keys_from_jwks(&new_jwks).unwrap();
    verify_answer(&old_answer, &keys).unwrap();
    verify_checkpoint(&old_cp, &keys).unwrap();
    // New answers are signed by the new key; the old key alone does not verify them.
    let approver2 = app2.login_ok("approver").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let fresh = check(&app2, &approver2, &uscc(12)).await;
    verify_answer(&fresh, &keys).unwrap();
    assert_ne!(fresh["proof"]["kid"], old_answer["proof"]["kid"]);
    let old_keys = keys_from_jwks(&old_jwks).unwrap();
    assert!(verify_answer(&fresh, &old_keys).is_err());
    // The log goes on across the rotation.
    let cp = latest(&app2).await;
    verify_checkpoint(&cp, &keys).unwrap();
    let p: ConsistencyProof = consistency(&app2, old_cp.tree_size, cp.tree_size)
        .await
        .json()
        .await
        .unwrap();
    verify_log_consistency(&p, &old_cp, &cp).unwrap();
    // A retired key outside its validity does not verify what it signed.
    let expired = spawn_on(&app.db_url, |s| {
        s.receipt_signing_key = Some(NEW_KEY.into());
        s.receipt_previous_keys = vec![credit_lists::config::PreviousReceiptKey {
            public_key: old_public.clone(),
            not_before: chrono::Utc::now() - chrono::Duration::days(30),
            not_after: chrono::Utc::now() - chrono::Duration::days(29),
        }];
    })
    .await;
    let expired_keys = keys_from_jwks(&jwks(&expired).await).unwrap();
    let err = verify_answer(&old_answer, &expired_keys).unwrap_err();
    assert!(err.contains("outside the validity"), "{err}");
    drop(app);
}

async fn spawn_on_stoppable_fresh() -> (TestApp, actix_web::dev::ServerHandle) {
    let (db_url, dir) = fresh_database();
    let (mut app, handle) = spawn_on_stoppable(&db_url, |_| {}).await;
    app.keep_db(dir);
    (app, handle)
}

#[tokio::test]
async fn inclusion_and_consistency_proofs_verify_and_a_deleted_receipt_row_is_detected() {
    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let keys = keys(&app).await;
    // The log is empty before any check.
    let res = app
        .client
        .get(app.url("/api/v1/receipt-checkpoints/latest"))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

    let mut answers = vec![];
    for n in 0..3 {
        answers.push(check(&app, &approver.token, &uscc(20 + n)).await);
    }
    let cp1 = latest(&app).await;
    verify_checkpoint(&cp1, &keys).unwrap();
    assert_eq!(cp1.tree_size, 3);
    let same: Checkpoint = app
        .client
        .get(app.url("/api/v1/receipt-checkpoints/3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(same.root_hash, cp1.root_hash);
    for n in 0..4 {
        answers.push(check(&app, &approver.token, &uscc(30 + n)).await);
    }
    let cp2 = latest(&app).await;
    verify_checkpoint(&cp2, &keys).unwrap();
    assert_eq!(cp2.tree_size, 7);

    // Every receipt is in the log at both checkpoints it belongs to; its leaf is the hash the
    // answer's own proof covers.
    for (i, a) in answers.iter().enumerate() {
        let v = verify_answer(a, &keys).unwrap();
        let id = a["check_id"].as_i64().unwrap();
        let p = inclusion(&app, &approver.token, id, cp2.tree_size).await;
        assert_eq!(p.leaf_index, i as u64);
        verify_log_inclusion(&p, &cp2, Some(&v.receipt_hash)).unwrap();
        if i < 3 {
            let p = inclusion(&app, &approver.token, id, cp1.tree_size).await;
            verify_log_inclusion(&p, &cp1, Some(&v.receipt_hash)).unwrap();
            assert!(verify_log_inclusion(&p, &cp2, None).is_err());
        }
    }
    // A proof against a size that does not hold the receipt, or beyond the log.
    let last = answers[6]["check_id"].as_i64().unwrap();
    let res = app
        .get(
            &format!("/api/v1/credit-checks/{last}/inclusion?tree_size=3"),
            &approver.token,
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    let res = app
        .get(
            &format!("/api/v1/credit-checks/{last}/inclusion?tree_size=99"),
            &approver.token,
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
    // Someone else's receipt: 404, as for the receipt itself.
    let other = app
        .account("other-system", Role::ApprovalSystem, None, None)
        .await;
    let res = app
        .get(
            &format!("/api/v1/credit-checks/{last}/inclusion"),
            &other.token,
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

    let res = consistency(&app, cp1.tree_size, cp2.tree_size).await;
    assert_eq!(res.status(), StatusCode::OK);
    let p: ConsistencyProof = res.json().await.unwrap();
    verify_log_consistency(&p, &cp1, &cp2).unwrap();
    // A proof does not pass for a forged old checkpoint.
    let mut forged = cp1.clone();
    forged.root_hash = cp2.root_hash.clone();
    assert!(verify_log_consistency(&p, &forged, &cp2).is_err());
    for (from, to, field) in [
        (0, 3, "query.first"),
        (4, 3, "query.first"),
        (1, 8, "query.second"),
        (1, 0, "query.second"),
    ] {
        let res = consistency(&app, from, to).await;
        let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "out_of_range").await;
        assert_eq!(problem_fields(&body), vec![field.to_string()]);
    }

    // Altering a receipt row directly in the database: its inclusion proof and the next
    // consistency check fail, naming it.
    let second = answers[1]["check_id"].as_i64().unwrap() as i32;
    let mut conn = app.conn();
    diesel::sql_query("UPDATE credit_checks SET answer = replace(answer, '\"advice\":\"normal\"', '\"advice\":\"green_channel\"') WHERE id = $1".replace("$1", &second.to_string()))
        .execute(&mut conn)
        .unwrap();
    consistency_names_receipt(&app, cp1.tree_size, cp2.tree_size, second as i64).await;
    let res = app
        .get(
            &format!("/api/v1/credit-checks/{second}/inclusion"),
            &approver.token,
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "receipt_log_mismatch").await;
    // Deleting one: the same.
    let first = answers[0]["check_id"].as_i64().unwrap() as i32;
    diesel::sql_query(format!("DELETE FROM credit_checks WHERE id = {first}"))
        .execute(&mut conn)
        .unwrap();
    consistency_names_receipt(&app, 1, cp2.tree_size, first as i64).await;
    // The full audit names both.
    let report = credit_lists::checks::transparency::audit(&mut conn, &keys).unwrap();
    assert_eq!(report.leaves, 7);
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
}

#[tokio::test]
async fn the_full_audit_passes_on_an_untouched_log_and_fails_on_a_forged_checkpoint() {
    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let keys = keys(&app).await;
    for n in 0..5 {
        check(&app, &approver.token, &uscc(40 + n)).await;
        latest(&app).await;
    }
    let mut conn = app.conn();
    let report = credit_lists::checks::transparency::audit(&mut conn, &keys).unwrap();
    assert_eq!((report.leaves, report.checkpoints), (5, 5));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    diesel::sql_query(
        "UPDATE receipt_checkpoints SET root_hash = (SELECT root_hash FROM receipt_checkpoints \
         WHERE tree_size = 5) WHERE tree_size = 4",
    )
    .execute(&mut conn)
    .unwrap();
    let report = credit_lists::checks::transparency::audit(&mut conn, &keys).unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
}

#[tokio::test]
async fn two_instances_on_one_database_feed_one_log() {
    let app1 = spawn_app().await;
    let app2 = spawn_on(&app1.db_url, |_| {}).await;
    let approver = app1
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let t2 = app2.login_ok("approver").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let keys = keys(&app1).await;
    let mut answers = vec![];
    for round in 0..3u32 {
        let (c1, c2) = (uscc(50 + round), uscc(60 + round));
        let (a, b) = tokio::join!(check(&app1, &approver.token, &c1), check(&app2, &t2, &c2));
        let batch: Value = app2
            .post(
                "/api/v1/credit-checks/batch",
                &t2,
                json!({"subject_codes": [uscc(70 + round), uscc(80 + round)],
                       "field": "administrative_licensing"}),
            )
            .await
            .json()
            .await
            .unwrap();
        answers.push(a);
        answers.push(b);
        for r in batch["results"].as_array().unwrap() {
            answers.push(r["check"].clone());
        }
    }
    // Each instance sequences what it acknowledged; the log is one.
    latest(&app2).await;
    let cp = latest(&app1).await;
    assert_eq!(cp.tree_size, answers.len() as u64);
    verify_checkpoint(&cp, &keys).unwrap();
    let mut indexes = vec![];
    for a in &answers {
        let v = verify_answer(a, &keys).unwrap();
        let id = a["check_id"].as_i64().unwrap();
        let p = inclusion(&app1, &approver.token, id, cp.tree_size).await;
        verify_log_inclusion(&p, &cp, Some(&v.receipt_hash)).unwrap();
        indexes.push(p.leaf_index);
    }
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(
        indexes.len(),
        answers.len(),
        "every receipt has its own leaf"
    );
    let same = latest(&app2).await;
    assert_eq!(same.root_hash, cp.root_hash);
}

/// The Python verifier printed in docs/credit-checks.md, run on a real answer, checkpoint and
/// inclusion proof (and on a forged one). Skipped when python3 lacks `cryptography`, unless
/// `CREDIT_LISTS_REQUIRE_PYTHON_VERIFY` is set (CI sets it).
#[tokio::test]
async fn the_documented_python_verifier_accepts_a_real_receipt_and_refuses_a_forged_one() {
    let has = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        assert!(
            std::env::var("CREDIT_LISTS_REQUIRE_PYTHON_VERIFY").is_err(),
            "python3 with `cryptography` is required here"
        );
        eprintln!("skipped: python3 with `cryptography` is not installed");
        return;
    }
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/credit-checks.md"
    ))
    .unwrap();
    let start = doc
        .find("```python\n# verify_receipt.py")
        .expect("the snippet in the docs");
    let body = &doc[start + "```python\n".len()..];
    let script = &body[..body.find("```").unwrap()];

    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let person = id_number(9);
    let b: Value = app
        .post(
            "/api/v1/credit-checks/batch",
            &approver.token,
            json!({"subject_codes": [uscc(90), person], "field": "administrative_licensing"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let cp = latest(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    std::fs::write(path("verify_receipt.py"), script).unwrap();
    std::fs::write(path("keys.json"), jwks(&app).await.to_string()).unwrap();
    std::fs::write(path("checkpoint.json"), serde_json::to_string(&cp).unwrap()).unwrap();
    let run = |answer: &str, proof: &str| {
        std::process::Command::new("python3")
            .current_dir(dir.path())
            .args([
                "verify_receipt.py",
                answer,
                "keys.json",
                "checkpoint.json",
                proof,
            ])
            .output()
            .unwrap()
    };
    for (i, r) in b["results"].as_array().unwrap().iter().enumerate() {
        let a = &r["check"];
        let id = a["check_id"].as_i64().unwrap();
        let p = inclusion(&app, &approver.token, id, cp.tree_size).await;
        std::fs::write(path(&format!("a{i}.json")), a.to_string()).unwrap();
        std::fs::write(
            path(&format!("p{i}.json")),
            serde_json::to_string(&p).unwrap(),
        )
        .unwrap();
        let out = run(&format!("a{i}.json"), &format!("p{i}.json"));
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The CLI's verifier agrees.
        credit_lists::checks::signing::verify_files(
            &path(&format!("a{i}.json")),
            &path("keys.json"),
            Some((&path(&format!("p{i}.json")), &path("checkpoint.json"))),
        )
        .unwrap();
        // One changed byte: refused by both.
        let mut t = a.clone();
        t["field"] = json!("bidding");
        std::fs::write(path("t.json"), t.to_string()).unwrap();
        assert!(!run("t.json", &format!("p{i}.json")).status.success());
        assert!(credit_lists::checks::signing::verify_files(
            &path("t.json"),
            &path("keys.json"),
            None
        )
        .is_err());
    }
    // An inclusion proof of another receipt does not pass.
    assert!(!run("a0.json", "p1.json").status.success());
}

/// `credit-lists receipt verify`: exit 0 with what it verified; non-zero with the reason.
#[tokio::test]
async fn the_receipt_verify_command_accepts_a_saved_answer_and_refuses_a_changed_one() {
    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let a = check(&app, &approver.token, &uscc(95)).await;
    let cp = latest(&app).await;
    let id = a["check_id"].as_i64().unwrap();
    let p = inclusion(&app, &approver.token, id, cp.tree_size).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    std::fs::write(path("a.json"), a.to_string()).unwrap();
    std::fs::write(path("keys.json"), jwks(&app).await.to_string()).unwrap();
    std::fs::write(path("cp.json"), serde_json::to_string(&cp).unwrap()).unwrap();
    std::fs::write(path("p.json"), serde_json::to_string(&p).unwrap()).unwrap();
    let mut t = a.clone();
    t["known"] = json!(!a["known"].as_bool().unwrap());
    std::fs::write(path("t.json"), t.to_string()).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_credit-lists"))
            .current_dir(dir.path())
            .env_remove("CREDIT_LISTS_CONFIG")
            .args(["receipt", "verify"])
            .args(args)
            .output()
            .unwrap()
    };
    let ok = run(&[
        "a.json",
        "--keys",
        "keys.json",
        "--inclusion",
        "p.json",
        "--checkpoint",
        "cp.json",
    ]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.contains(&format!("receipt {id} verifies")), "{out}");
    assert!(out.contains("in the receipt log at position"), "{out}");
    let bad = run(&["t.json", "--keys", "keys.json"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("receipt does not verify"), "{err}");
    // An inclusion proof without its checkpoint is refused by the command line itself.
    assert!(
        !run(&["a.json", "--keys", "keys.json", "--inclusion", "p.json"])
            .status
            .success()
    );
}

/// A log past one kept subtree head (256 receipts): inclusion proofs of receipts on either side
/// of the boundary verify against the signed checkpoint; the heads are kept, and a damaged one
/// is named by the audit (and makes the proofs that use it fail, never pass).
#[tokio::test]
async fn inclusion_proofs_past_a_kept_subtree_verify_and_a_damaged_head_is_caught() {
    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let keys = keys(&app).await;
    let codes: Vec<String> = (0..600).map(|n| uscc(1_000 + n)).collect();
    let b = batch(&app, &approver.token, &codes).await;
    let ids: Vec<i64> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["check"]["check_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 600);
    let cp = latest(&app).await;
    assert_eq!(cp.tree_size, 600);
    verify_checkpoint(&cp, &keys).unwrap();
    let answers: Vec<&Value> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["check"])
        .collect();
    for i in [0usize, 255, 256, 300, 511, 512, 599] {
        let p = inclusion(&app, &approver.token, ids[i], cp.tree_size).await;
        assert_eq!(p.leaf_index, i as u64);
        let v = verify_answer(answers[i], &keys).unwrap();
        verify_log_inclusion(&p, &cp, Some(&v.receipt_hash)).unwrap();
    }
    let mut conn = app.conn();
    #[derive(QueryableByName)]
    struct Tiles {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let kept: Tiles =
        diesel::sql_query("SELECT COUNT(*) AS n FROM receipt_log_tiles WHERE height = 8")
            .get_result(&mut conn)
            .unwrap();
    assert_eq!(kept.n, 2, "the two complete subtrees of 256 are kept");
    let report = credit_lists::checks::transparency::audit(&mut conn, &keys).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // A damaged head: the audit names it, and a proof that uses it does not verify.
    diesel::sql_query(format!(
        "UPDATE receipt_log_tiles SET hash = '{}' WHERE height = 8 AND tile_index = 0",
        "00".repeat(32)
    ))
    .execute(&mut conn)
    .unwrap();
    let report = credit_lists::checks::transparency::audit(&mut conn, &keys).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("tile 8/0"),
        "{:?}",
        report.problems
    );
    let p = inclusion(&app, &approver.token, ids[300], cp.tree_size).await;
    let v = verify_answer(answers[300], &keys).unwrap();
    assert!(verify_log_inclusion(&p, &cp, Some(&v.receipt_hash)).is_err());
}

/// The log takes its receipts in parts of at most 5,000, whatever inserted them (on PostgreSQL a
/// statement trigger records each statement's receipts as pending runs of ids): a receipt row
/// deleted before it entered the log is left out and, on PostgreSQL, stays pending on its own;
/// a receipt past the first part still proves its inclusion.
#[tokio::test]
async fn the_log_takes_receipts_in_parts_and_a_receipt_gone_before_it_stays_out() {
    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let admin = app.account("admin", Role::Admin, None, None).await;
    let keys = keys(&app).await;
    let mut answers: Vec<Value> = vec![];
    // Batches of 700, 1,000 × 5 and 300: the first part of 5,000 ends inside the sixth batch's run.
    let mut n = 0u32;
    for size in [700, 1000, 1000, 1000, 1000, 1000, 300] {
        let codes: Vec<String> = (n..n + size).map(uscc).collect();
        n += size;
        let body = batch(&app, &approver.token, &codes).await;
        answers.extend(
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["check"].clone()),
        );
    }
    assert_eq!(answers.len(), 6000);
    // Every receipt is in the table (SQLite: folded from its receipt log) before the rows are
    // touched directly.
    let res = app
        .get("/api/v1/credit-checks?per_page=1", &admin.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let id_of = |a: &Value| a["check_id"].as_i64().unwrap() as i32;
    let gone = id_of(&answers[9]);
    let copied = id_of(&answers[5999]) + 1000;
    let mut conn = app.conn();
    diesel::sql_query(format!("DELETE FROM credit_checks WHERE id = {gone}"))
        .execute(&mut conn)
        .unwrap();
    // A receipt written by another statement than the writer's (a copy of the last, with its
    // own id) enters the log too.
    diesel::sql_query(format!(
        "INSERT INTO credit_checks (id, checked_at, caller_user_id, caller_department_id, field, \
         reference, purpose, advice, subject_key, subject_bucket, subject_id, region_code, \
         measure_ids, answer) SELECT {copied}, checked_at, caller_user_id, caller_department_id, \
         field, reference, purpose, advice, subject_key, subject_bucket, subject_id, region_code, \
         measure_ids, answer FROM credit_checks WHERE id = {}",
        id_of(&answers[5999])
    ))
    .execute(&mut conn)
    .unwrap();

    let cp = latest(&app).await;
    verify_checkpoint(&cp, &keys).unwrap();
    assert_eq!(cp.tree_size, 6000, "5,999 answered receipts and the copy");
    // Two checkpoints were signed: the first part, then the rest. The first part is 5,000
    // pending ids on PostgreSQL (one of them gone) and 5,000 rows above the last on SQLite.
    let first_part = if is_postgres() { 4999 } else { 5000 };
    let res = app
        .client
        .get(app.url(&format!("/api/v1/receipt-checkpoints/{first_part}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for a in [&answers[0], &answers[5010], &answers[5999]] {
        let v = verify_answer(a, &keys).unwrap();
        let p = inclusion(&app, &approver.token, id_of(a).into(), cp.tree_size).await;
        verify_log_inclusion(&p, &cp, Some(&v.receipt_hash)).unwrap();
    }
    let res = app
        .get(
            &format!("/api/v1/credit-checks/{copied}/inclusion"),
            &admin.token,
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let p: InclusionProof = res.json().await.unwrap();
    assert_eq!(p.leaf_index, 5999, "the copy came last");

    if is_postgres() {
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Run {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            first_id: i32,
            #[diesel(sql_type = diesel::sql_types::Integer)]
            last_id: i32,
        }
        let pending = || -> Vec<Run> {
            diesel::sql_query("SELECT first_id, last_id FROM receipt_log_pending ORDER BY first_id")
                .load(&mut *app.conn())
                .unwrap()
        };
        let gone_run = vec![Run {
            first_id: gone,
            last_id: gone,
        }];
        assert_eq!(pending(), gone_run, "only the gone receipt is left pending");
        // The next sequencing reports it again and leaves everything as it was.
        let again = latest(&app).await;
        assert_eq!(again.tree_size, 6000);
        assert_eq!(pending(), gone_run);
        // Receipts already in the log marked pending again (a data-only restore inserts them
        // anew, and the trigger fires) are dropped, not appended twice.
        let (a, b) = (id_of(&answers[100]), id_of(&answers[199]));
        diesel::sql_query(format!(
            "INSERT INTO receipt_log_pending (first_id, last_id, first_at, last_at) \
             SELECT {a}, {b}, min(checked_at), max(checked_at) FROM credit_checks \
             WHERE id BETWEEN {a} AND {b}"
        ))
        .execute(&mut *app.conn())
        .unwrap();
        let again = latest(&app).await;
        assert_eq!(again.tree_size, 6000);
        assert_eq!(pending(), gone_run);
    }
    let report = credit_lists::checks::transparency::audit(&mut conn, &keys).unwrap();
    assert_eq!(report.leaves, 6000);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(&mut *app.conn())
        .unwrap()
        .n
}

async fn archive(app: &TestApp, token: &str, month: &str) -> reqwest::Response {
    app.post("/api/v1/receipt-archives", token, json!({ "month": month }))
        .await
}

/// Retention (issue 25): archiving an ended month detaches its receipts (PostgreSQL), and the log
/// stays provable: a consistency proof over the archived receipts still verifies, while a
/// receipt row deleted from a month that is not archived is still detected. SQLite refuses.
#[tokio::test]
async fn an_archived_month_leaves_the_receipts_and_the_log_stays_provable() {
    use chrono::{Datelike, Duration, NaiveDate, Utc};
    use credit_lists::checks::partitions::{self, partition_name};

    let app = spawn_app().await;
    let approver = app
        .account("approver", Role::ApprovalSystem, None, None)
        .await;
    let admin = app.admin().await;
    let keys = keys(&app).await;
    let today = Utc::now().date_naive();
    let first_of = |d: NaiveDate| NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap();
    let this_month = first_of(today);
    let old_month = first_of(first_of(this_month - Duration::days(1)) - Duration::days(1));
    let old_text = old_month.format("%Y-%m").to_string();

    let first = check(&app, &approver.token, &uscc(901)).await;
    let first_id = first["check_id"].as_i64().unwrap();
    if !is_postgres() {
        let res = archive(&app, &admin.token, &old_text).await;
        assert_problem(
            res,
            StatusCode::CONFLICT,
            "receipt_archive_needs_postgresql",
        )
        .await;
        let res = app.get("/api/v1/receipt-archives", &admin.token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), json!([]));
        assert_eq!(count(&app, "SELECT count(*) AS n FROM credit_checks"), 1);
        return;
    }

    // Three receipts of a month two months back (rows written as an instance then would have:
    // copies of a receipt, dated then), in that month's partition; then two of this month.
    partitions::ensure(&mut app.conn(), old_month.and_hms_opt(0, 0, 0).unwrap()).unwrap();
    diesel::sql_query(format!(
        "INSERT INTO credit_checks (checked_at, caller_user_id, caller_department_id, field, \
         reference, purpose, advice, subject_key, subject_bucket, subject_id, region_code, \
         measure_ids, answer) \
         SELECT TIMESTAMP '{old_month} 09:00:00' + n * INTERVAL '1 minute', caller_user_id, \
         caller_department_id, field, reference, purpose, advice, subject_key, subject_bucket, \
         subject_id, region_code, measure_ids, answer \
         FROM credit_checks, generate_series(1, 3) n WHERE id = {first_id}"
    ))
    .execute(&mut *app.conn())
    .unwrap();
    for n in 0..2 {
        check(&app, &approver.token, &uscc(902 + n)).await;
    }
    let cp1 = latest(&app).await;
    assert_eq!(cp1.tree_size, 6);

    // Who may, and what is refused, changing nothing.
    let res = archive(&app, &approver.token, &old_text).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    for (month, status, code) in [
        ("2025-13", StatusCode::UNPROCESSABLE_ENTITY, "invalid_month"),
        ("20251", StatusCode::UNPROCESSABLE_ENTITY, "invalid_month"),
        (
            &*this_month.format("%Y-%m").to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "month_not_ended",
        ),
        ("2001-01", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let res = archive(&app, &admin.token, month).await;
        assert_problem(res, status, code).await;
    }
    assert_eq!(count(&app, "SELECT count(*) AS n FROM receipt_archives"), 0);

    // Two administrators at once: one archives, the other is told it is done.
    let (a, b) = tokio::join!(
        archive(&app, &admin.token, &old_text),
        archive(&app, &admin.token, &old_text)
    );
    let (res, other) = if a.status() == StatusCode::CREATED {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_problem(other, StatusCode::CONFLICT, "month_already_archived").await;
    let done: Value = res.json().await.unwrap();
    let table = format!("credit_checks_archive_p{}", old_month.format("%Y%m"));
    assert_eq!(done["month"], old_text.as_str());
    assert_eq!(done["receipts"], 3);
    assert_eq!(done["table_name"], table.as_str());
    let res = archive(&app, &admin.token, &old_text).await;
    assert_problem(res, StatusCode::CONFLICT, "month_already_archived").await;

    // The rows left the table for the archive table; the log recorded which leaves they are.
    assert_eq!(count(&app, "SELECT count(*) AS n FROM credit_checks"), 3);
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM {table}")),
        3
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM pg_inherits WHERE inhrelid = \
                 to_regclass('{}')",
                partition_name(old_month)
            )
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT sum(last_leaf - first_leaf + 1)::bigint AS n FROM receipt_log_archived"
        ),
        3
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM audit_log WHERE action = 'receipts.archive'"
        ),
        1
    );
    let archived_id = count(&app, &format!("SELECT min(id)::bigint AS n FROM {table}"));
    let res = app
        .get(
            &format!("/api/v1/credit-checks/{archived_id}"),
            &admin.token,
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get("/api/v1/receipt-archives", &admin.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Value = res.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["month"], old_text.as_str());
    let res = app.get("/api/v1/receipt-archives", &approver.token).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;

    // The log still proves itself across the archived receipts.
    check(&app, &approver.token, &uscc(905)).await;
    let cp2 = latest(&app).await;
    assert_eq!(cp2.tree_size, 7);
    verify_checkpoint(&cp2, &keys).unwrap();
    for from in [1, cp1.tree_size] {
        let res = consistency(&app, from, cp2.tree_size).await;
        assert_eq!(res.status(), StatusCode::OK, "from {from}");
        let p: ConsistencyProof = res.json().await.unwrap();
        if from == cp1.tree_size {
            verify_log_consistency(&p, &cp1, &cp2).unwrap();
        }
    }
    // The full audit takes the archived receipts' recorded hashes, and finds nothing wrong.
    let report = credit_lists::checks::transparency::audit(&mut app.conn(), &keys).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.leaves, report.archived), (7, 3));
    // A receipt of a month not archived, deleted behind the service's back, is still detected.
    diesel::sql_query(format!("DELETE FROM credit_checks WHERE id = {first_id}"))
        .execute(&mut *app.conn())
        .unwrap();
    consistency_names_receipt(&app, cp1.tree_size, cp2.tree_size, first_id as i64).await;
    let report = credit_lists::checks::transparency::audit(&mut app.conn(), &keys).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
}
