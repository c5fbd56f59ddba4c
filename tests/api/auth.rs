use credit_lists::auth::tokens::JwtKeys;
use credit_lists::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn login_returns_a_bearer_pair_that_works() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Admin, None, None);
    let res = app.login("alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 64);
    let me = app
        .get("/api/v1/me", body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["role"], "admin");
    assert!(me.get("password_hash").is_none());
}

#[tokio::test]
async fn usernames_are_case_insensitive() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Admin, None, None);
    assert_eq!(
        app.login("  ALICE ", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_account_look_the_same() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let bob = app.create_user("bob", Role::ApprovalSystem, None, None);
    app.patch(
        &format!("/api/v1/users/{bob}"),
        &admin.token,
        json!({"active": false}),
    )
    .await;
    let mut bodies = Vec::new();
    for (user, pw) in [
        ("admin", "wrong password!!"),
        ("nobody", PASSWORD),
        ("bob", PASSWORD),
    ] {
        let body = assert_problem(
            app.login(user, pw).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        bodies.push(body);
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
}

#[tokio::test]
async fn failed_logins_are_audited_without_the_typed_secret() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Admin, None, None);
    app.login("alice", "guess number one").await;
    app.login("11010519491231002X", "guess number two").await;
    let mut conn = app.conn();
    use credit_lists::schema::audit_log::dsl::*;
    use diesel::prelude::*;
    let rows: Vec<(Option<String>, Option<String>)> = audit_log
        .filter(action.eq("auth.login_failed"))
        .order(id.asc())
        .select((entity_id, after_json))
        .load(&mut *conn)
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].0.is_some(), "a known account is named");
    assert!(rows[1].0.is_none(), "an unknown name is not recorded");
    let all: Vec<String> = audit_log
        .select(after_json.assume_not_null())
        .filter(after_json.is_not_null())
        .load(&mut *conn)
        .unwrap();
    assert!(all
        .iter()
        .all(|j| !j.contains("guess") && !j.contains("19491231")));
}

#[tokio::test]
async fn repeated_failures_make_that_client_wait_for_that_account_with_retry_after() {
    // A first wait long enough that no slow machine lets it pass between two requests.
    let app = spawn_app_with(|s| s.login_first_delay_secs = 60).await;
    app.create_user("alice", Role::Admin, None, None);
    app.create_user("carol", Role::Admin, None, None);
    for _ in 0..5 {
        assert_eq!(
            app.login("alice", "not the password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = app.login("alice", PASSWORD).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    // Unknown accounts are throttled the same way, so 429 does not reveal existence.
    for _ in 0..5 {
        app.login("ghost", "not the password").await;
    }
    assert_eq!(
        app.login("ghost", "x").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another account from the same address is not refused.
    assert_eq!(app.login("carol", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn repeated_failures_from_one_address_lock_it() {
    let app = spawn_app_with(|s| s.login_max_failures_per_ip = 3).await;
    app.create_user("alice", Role::Admin, None, None);
    for name in ["x1", "x2", "x3"] {
        app.login(name, "nope nope nope").await;
    }
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_ends_the_whole_session() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Admin, None, None);
    let first = app.login_ok("alice").await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let res = app
        .request(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": r1})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let second: Value = res.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let access2 = second["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/me", access2).await.status(),
        StatusCode::OK
    );

    // The spent token comes back: the family is revoked.
    let reuse = app
        .request(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": r1})),
        )
        .await;
    assert_problem(reuse, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let later = app
        .request(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": r2})),
        )
        .await;
    assert_problem(later, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        app.get("/api/v1/me", access2).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", first["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Another login is a separate session and unaffected.
    let other = app.login_ok("alice").await;
    assert_eq!(
        app.get("/api/v1/me", other["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_refresh_token_is_rejected() {
    let app = spawn_app().await;
    let res = app
        .request(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": "abc"})),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn logout_ends_access_and_refresh_tokens() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Admin, None, None);
    let t = app.login_ok("alice").await;
    let access = t["access_token"].as_str().unwrap();
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .request(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": t["refresh_token"]})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

fn forge(secret_kid_source: &str, claims: Value, alg: jsonwebtoken::Algorithm) -> String {
    let kid = {
        // Reuse the service's key id by issuing a real token and reading its header.
        let keys = JwtKeys::new(secret_kid_source, None).unwrap();
        let t = keys.issue(1, "x", "admin", 60).unwrap();
        jsonwebtoken::decode_header(&t).unwrap().kid
    };
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid;
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret_kid_source.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let app = spawn_app().await;
    let acc = app.admin().await;
    let claims = JwtKeys::new(SECRET, None)
        .unwrap()
        .verify(&acc.token)
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let base = json!({
        "sub": claims.sub, "sid": claims.sid, "role": "admin",
        "iss": "credit-lists", "aud": "credit-lists-api",
        "iat": now, "nbf": now, "exp": now + 600, "jti": "j"
    });
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    // Sanity: a forged token with the right secret and claims is accepted, so the cases below
    // fail for the reason they name.
    let good = forge(SECRET, base.clone(), jsonwebtoken::Algorithm::HS256);
    assert_eq!(app.get("/api/v1/me", &good).await.status(), StatusCode::OK);

    let header_b64 = |h: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h)
    };
    let payload = header_b64(&base.to_string());
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not.a.token".into()),
        (
            "alg none",
            format!(
                "{}.{}.",
                header_b64(r#"{"alg":"none","typ":"JWT"}"#),
                payload
            ),
        ),
        (
            "wrong signature",
            forge(
                "another-secret-0123456789abcdef0123456789",
                base.clone(),
                jsonwebtoken::Algorithm::HS256,
            ),
        ),
        (
            "expired",
            forge(
                SECRET,
                with("exp", json!(now - 3600)),
                jsonwebtoken::Algorithm::HS256,
            ),
        ),
        (
            "not yet valid",
            forge(
                SECRET,
                with("nbf", json!(now + 3600)),
                jsonwebtoken::Algorithm::HS256,
            ),
        ),
        (
            "wrong issuer",
            forge(
                SECRET,
                with("iss", json!("someone-else")),
                jsonwebtoken::Algorithm::HS256,
            ),
        ),
        (
            "wrong audience",
            forge(
                SECRET,
                with("aud", json!("other-api")),
                jsonwebtoken::Algorithm::HS256,
            ),
        ),
        (
            "HS512",
            forge(SECRET, base.clone(), jsonwebtoken::Algorithm::HS512),
        ),
        (
            "unknown session",
            forge(
                SECRET,
                with("sid", json!("no-such-session")),
                jsonwebtoken::Algorithm::HS256,
            ),
        ),
        (
            "other user",
            forge(
                SECRET,
                with("sub", json!("999")),
                jsonwebtoken::Algorithm::HS256,
            ),
        ),
    ];
    for (name, token) in cases {
        let res = app.get("/api/v1/me", &token).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer", "{name}");
    }
    for header in ["Basic YWRtaW46cGFzcw==", "Bearer", "Bearer    "] {
        let res = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let res = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn token_of_a_disabled_user_stops_working_at_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let bob = app.account("bob", Role::ApprovalSystem, None, None).await;
    assert_eq!(
        app.get("/api/v1/me", &bob.token).await.status(),
        StatusCode::OK
    );
    let res = app
        .patch(
            &format!("/api/v1/users/{}", bob.id),
            &admin.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", &bob.token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tokens_signed_with_the_previous_key_stay_valid_after_rotation() {
    let app = spawn_app().await;
    let acc = app.admin().await;
    const NEW: &str = "rotated-secret-0123456789abcdef0123456789abcdef";
    let rotated = spawn_on(&app.db_url, |s| {
        s.jwt_secret = Some(NEW.into());
        s.jwt_previous_secret = Some(SECRET.into());
    })
    .await;
    assert_eq!(
        rotated.get("/api/v1/me", &acc.token).await.status(),
        StatusCode::OK
    );
    // New tokens are signed with the new key; a server that only knows the old key rejects them.
    let fresh = rotated.login_ok("admin").await;
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(
        rotated.get("/api/v1/me", fresh).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/me", fresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Once the previous key is dropped, old tokens end.
    let dropped = spawn_on(&app.db_url, |s| s.jwt_secret = Some(NEW.into())).await;
    assert_eq!(
        dropped.get("/api/v1/me", &acc.token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn own_password_change_needs_the_current_one_and_ends_other_sessions() {
    let app = spawn_app().await;
    let acc = app
        .account("alice", Role::Bureau, None, Some("220500"))
        .await;
    let other = app.login_ok("alice").await;
    let res = app
        .post(
            "/api/v1/me/password",
            &acc.token,
            json!({"current_password": "wrong one here", "new_password": "a brand new passphrase"}),
        )
        .await;
    let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "wrong_password").await;
    assert_eq!(problem_fields(&body), vec!["current_password"]);
    let res = app
        .post(
            "/api/v1/me/password",
            &acc.token,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&body), vec!["new_password"]);

    let res = app
        .post(
            "/api/v1/me/password",
            &acc.token,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", &acc.token).await.status(),
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        app.get("/api/v1/me", other["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("alice", "a brand new passphrase").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_and_audited() {
    let app = spawn_app_with(|s| s.login_first_delay_secs = 60).await;
    let acc = app
        .account("alice", Role::Bureau, None, Some("220500"))
        .await;
    for _ in 0..5 {
        let res = app
            .post("/api/v1/me/password", &acc.token, json!({"current_password": "a wrong guess", "new_password": "a brand new passphrase"}))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = app
        .post(
            "/api/v1/me/password",
            &acc.token,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    let admin = app.admin().await;
    let page: Value = app
        .get(
            "/api/v1/audit-log?action=user.password_change_failed",
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5);
}

/// A login as sent by a client behind the reverse proxy (or claiming to be).
async fn login_from(
    app: &TestApp,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The test server is reached from 127.0.0.1: with that as the trusted proxy, `X-Forwarded-For`
/// names the client.
fn behind_proxy(s: &mut credit_lists::config::Settings) {
    s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    s.login_first_delay_secs = 60;
}

#[tokio::test]
async fn failures_for_an_account_from_one_client_do_not_refuse_the_owner_on_another() {
    let app = spawn_app_with(behind_proxy).await;
    app.create_user("alice", Role::Admin, None, None);
    let attacker = "203.0.113.66";
    for _ in 0..5 {
        assert_eq!(
            login_from(&app, attacker, "alice", "not the password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = login_from(&app, attacker, "alice", PASSWORD).await;
    assert!((1..=60).contains(&retry_after(&res)));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    // Prepending an address of one's own choosing changes nothing: only the entry the proxy
    // appended (the rightmost) is believed.
    let res = login_from(
        &app,
        &format!("198.51.100.7, {attacker}"),
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, from their own machine: logged in.
    let res = login_from(&app, "198.51.100.7", "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The audit trail records the client, not the proxy.
    let admin = app.admin().await;
    let page: Value = app
        .get("/api/v1/audit-log?action=auth.login_failed", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5, "{page}");
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["ip"] == attacker),
        "{page}"
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // No trusted proxies (the default): the header is the client's own claim.
    let app = spawn_app_with(|s| s.login_first_delay_secs = 60).await;
    app.create_user("alice", Role::Admin, None, None);
    for i in 0..5 {
        let res = login_from(&app, &format!("192.0.2.{i}"), "alice", "not the password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login_from(&app, "198.51.100.7", "alice", PASSWORD).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

#[tokio::test]
async fn the_wait_grows_with_each_further_failure() {
    let app = spawn_app_with(|s| {
        s.login_free_failures = 1;
        s.login_first_delay_secs = 1;
    })
    .await;
    app.create_user("alice", Role::Admin, None, None);
    let mut waits = Vec::new();
    for _ in 0..3 {
        assert_eq!(
            app.login("alice", "not the password").await.status(),
            StatusCode::UNAUTHORIZED
        );
        let res = app.login("alice", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&res);
        waits.push(wait);
        // Sleep out the wait (not a timing assertion: any slowness only makes it longer).
        tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 200)).await;
    }
    // 1 s, 2 s, 4 s (each rounded up from what is left when asked).
    assert!(
        waits[0] <= 1 && waits[1] == 2 && waits[2] >= 3 && waits[2] <= 4,
        "{waits:?}"
    );
    // Waited out: the right password works and clears the pair.
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        app.login("alice", "not the password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "one free failure again after a success, then a wait"
    );
}

#[tokio::test]
async fn password_spraying_from_one_client_is_refused_and_other_clients_are_not() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.login_max_failures_per_ip = 5;
    })
    .await;
    app.create_user("alice", Role::Admin, None, None);
    let sprayer = "203.0.113.9";
    for name in ["u1", "u2", "u3", "u4", "alice"] {
        assert_eq!(
            login_from(&app, sprayer, name, "Winter2026!!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Over the cap: every account, even with the right password, from that client.
    let res = login_from(&app, sprayer, "bob", PASSWORD).await;
    let wait = retry_after(&res);
    assert!((1..=900).contains(&wait), "{wait}");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert_eq!(
        login_from(&app, sprayer, "alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "198.51.100.7", "alice", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn failures_from_many_clients_only_slow_an_account_down() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.login_account_delay_after = 2;
        s.login_account_max_delay_ms = 50;
    })
    .await;
    app.create_user("alice", Role::Admin, None, None);
    // Credential stuffing from many addresses: each stays under every per-client figure.
    for i in 0..20 {
        let res = login_from(&app, &format!("203.0.113.{i}"), "alice", "not the password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // Still answered (slowly), never refused: the owner's fresh client logs in.
    assert_eq!(
        login_from(&app, "198.51.100.7", "alice", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn weak_password_refused(res: reqwest::Response, field: &str, reason: &str) {
    let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let errors = body["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["field"] == field
            && e["code"] == "weak_password"
            && e["message"].as_str().unwrap().contains(reason)),
        "{body}"
    );
}

#[tokio::test]
async fn the_password_policy_refuses_the_username_common_and_repetitive_passwords() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let create = |username: &str, password: &str| json!({"username": username, "password": password, "role": "admin"});
    for (username, password, reason) in [
        ("officer.wang", "officer.wang", "username"),
        ("officer.wang", "OFFICER.WANG", "username"),
        ("officer.wang", "my login is Officer.Wang", "username"),
        ("newbie", "password1234", "most common"),
        ("newbie", "!!password!!", "most common"),
        ("newbie", "Baseball2026!", "most common"),
        ("newbie", "aaaaaaaaaaaa", "repetitive"),
        ("newbie", "abcabcabcabc", "repetitive"),
    ] {
        let res = app
            .post("/api/v1/users", &admin.token, create(username, password))
            .await;
        weak_password_refused(res, "password", reason).await;
    }
    // A passphrase passes, the test helper's included.
    let res = app
        .post("/api/v1/users", &admin.token, create("newbie", PASSWORD))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let newbie: Value = res.json().await.unwrap();
    let newbie_id = newbie["id"].as_i64().unwrap();

    // Changing one's own password: the same policy, checked before anything else.
    let own = app.login_ok("newbie").await;
    let own = own["access_token"].as_str().unwrap();
    for (password, reason) in [
        ("newbie-newbie!", "username"),
        ("password1234", "most common"),
        ("zzzzzzzzzzzzzzzz", "repetitive"),
    ] {
        let res = app
            .post(
                "/api/v1/me/password",
                own,
                json!({"current_password": PASSWORD, "new_password": password}),
            )
            .await;
        weak_password_refused(res, "new_password", reason).await;
    }
    // An admin's reset: the target account's name counts.
    for (password, reason) in [
        ("newbie's new password", "username"),
        ("qwertyuiop123", "most common"),
        ("xyxyxyxyxyxyxy", "repetitive"),
    ] {
        let res = app
            .post(
                &format!("/api/v1/users/{newbie_id}/password"),
                &admin.token,
                json!({"new_password": password}),
            )
            .await;
        weak_password_refused(res, "new_password", reason).await;
    }
    // Nothing changed: the original password still works.
    app.login_ok("newbie").await;
}
