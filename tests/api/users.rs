use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn admin_creates_accounts_bound_to_their_scope() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "Scjg.Officer", "password": PASSWORD, "role": "department", "department_id": DEPT_SCJG, "display_name": "信用科"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["username"], "scjg.officer");
    assert_eq!(v["department_name"], "市市场监督管理局");
    assert_eq!(v["region_code"], "220500");
    assert_eq!(v["display_name"], "信用科");
    assert!(v.get("password_hash").is_none() && v.get("password").is_none());
    // The new account can log in.
    assert_eq!(
        app.login("scjg.officer", PASSWORD).await.status(),
        StatusCode::OK
    );

    let res = app
        .post("/api/v1/users", &admin.token, json!({"username": "county", "password": PASSWORD, "role": "bureau", "region_code": "220521"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let got: Value = app
        .get(&format!("/api/v1/users/{id}"), &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["region_code"], "220521");
    assert_eq!(got["role"], "bureau");
}

#[tokio::test]
async fn invalid_accounts_are_refused_with_the_field_and_nothing_is_written() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let before = app.audit_count();
    let cases = [
        (
            json!({"username": "a", "password": PASSWORD, "role": "admin"}),
            "username",
        ),
        (
            json!({"username": "has space", "password": PASSWORD, "role": "admin"}),
            "username",
        ),
        (
            json!({"username": "shorty", "password": "short", "role": "admin"}),
            "password",
        ),
        (
            json!({"username": "dept", "password": PASSWORD, "role": "department"}),
            "department_id",
        ),
        (
            json!({"username": "dept", "password": PASSWORD, "role": "department", "department_id": 99999}),
            "department_id",
        ),
        (
            json!({"username": "dept", "password": PASSWORD, "role": "department", "department_id": DEPT_SCJG, "region_code": "220521"}),
            "region_code",
        ),
        (
            json!({"username": "bur", "password": PASSWORD, "role": "bureau"}),
            "region_code",
        ),
        (
            json!({"username": "bur", "password": PASSWORD, "role": "bureau", "region_code": "999999"}),
            "region_code",
        ),
        (
            json!({"username": "bur", "password": PASSWORD, "role": "bureau", "region_code": "220500", "department_id": 1}),
            "department_id",
        ),
        (
            json!({"username": "mach", "password": PASSWORD, "role": "approval_system", "region_code": "220500"}),
            "region_code",
        ),
    ];
    for (body, field) in cases {
        let res = app.post("/api/v1/users", &admin.token, body.clone()).await;
        let problem =
            assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(
            problem_fields(&problem).contains(&field.to_string()),
            "{body} → {problem}"
        );
    }
    let res = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "x1", "password": PASSWORD, "role": "overlord"}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(problem_fields(&problem), vec!["role"]);
    assert_eq!(
        app.audit_count(),
        before,
        "no audit record for refused writes"
    );
    let users: Value = app
        .get("/api/v1/users", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["total"], 1);
}

#[tokio::test]
async fn duplicate_username_is_a_conflict() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let body = json!({"username": "twin", "password": PASSWORD, "role": "approval_system"});
    assert_eq!(
        app.post("/api/v1/users", &admin.token, body.clone())
            .await
            .status(),
        StatusCode::CREATED
    );
    let res = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"username": "TWIN", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "username_taken").await;
}

#[tokio::test]
async fn role_change_rechecks_the_binding() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let id = app.create_user("officer", Role::Department, Some(DEPT_SCJG), None);
    let path = format!("/api/v1/users/{id}");
    // Bureau without a region: refused.
    let res = app
        .patch(&path, &admin.token, json!({"role": "bureau"}))
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem_fields(&problem), vec!["region_code"]);
    // With one: the department binding is dropped.
    let res = app
        .patch(
            &path,
            &admin.token,
            json!({"role": "bureau", "region_code": "220581"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["role"], "bureau");
    assert_eq!(v["department_id"], Value::Null);
    assert_eq!(v["region_code"], "220581");
    // Moving a department officer to another department.
    let id2 = app.create_user("officer2", Role::Department, Some(DEPT_SCJG), None);
    let res = app
        .patch(
            &format!("/api/v1/users/{id2}"),
            &admin.token,
            json!({"department_id": DEPT_TAX}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["department_name"], "市税务局");
    // The new scope applies to the next request at once.
    let officer = app.login_ok("officer").await;
    let me: Value = app
        .get("/api/v1/me", officer["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "bureau");
}

#[tokio::test]
async fn admin_cannot_lock_themselves_out() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let path = format!("/api/v1/users/{}", admin.id);
    for body in [json!({"active": false}), json!({"role": "approval_system"})] {
        let res = app.patch(&path, &admin.token, body).await;
        assert_problem(res, StatusCode::CONFLICT, "cannot_change_self").await;
    }
}

#[tokio::test]
async fn admin_password_reset_ends_the_users_sessions() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let bob = app.account("bob", Role::ApprovalSystem, None, None).await;
    let res = app
        .post(
            &format!("/api/v1/users/{}/password", bob.id),
            &admin.token,
            json!({"new_password": "reset passphrase 1"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", &bob.token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("bob", "reset passphrase 1").await.status(),
        StatusCode::OK
    );
    let res = app
        .post(
            "/api/v1/users/424242/password",
            &admin.token,
            json!({"new_password": "reset passphrase 1"}),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn only_admins_manage_accounts() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let city = app
        .account("city", Role::Bureau, None, Some("220500"))
        .await;
    let dept = app
        .account("dept", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let machine = app
        .account("machine", Role::ApprovalSystem, None, None)
        .await;
    let target = format!("/api/v1/users/{}", dept.id);
    for who in [&city, &dept, &machine] {
        assert_problem(
            app.get("/api/v1/users", &who.token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_problem(
            app.get(&target, &who.token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let res = app
            .post(
                "/api/v1/users",
                &who.token,
                json!({"username": "new1", "password": PASSWORD, "role": "admin"}),
            )
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app
            .patch(&target, &who.token, json!({"active": false}))
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app
            .post(
                &format!("{target}/password"),
                &who.token,
                json!({"new_password": "x long enough 123"}),
            )
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(
        app.get("/api/v1/users", &admin.token).await.status(),
        StatusCode::OK
    );
    // Nobody got created or changed by the refused calls.
    let users: Value = app
        .get("/api/v1/users?per_page=200", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["total"], 4);
}

#[tokio::test]
async fn user_list_filters_and_pages() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for i in 0..5 {
        app.create_user(&format!("machine{i}"), Role::ApprovalSystem, None, None);
    }
    app.create_user("officer", Role::Department, Some(DEPT_SCJG), None);
    let page: Value = app
        .get(
            "/api/v1/users?role=approval_system&per_page=2&page=2",
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["page"], 2);
    let page: Value = app
        .get(
            &format!("/api/v1/users?department_id={DEPT_SCJG}"),
            &admin.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    for bad in [
        "per_page=0",
        "per_page=201",
        "page=0",
        "role=overlord",
        "active=maybe",
        "colour=red",
    ] {
        let res = app.get(&format!("/api/v1/users?{bad}"), &admin.token).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn accounts_of_a_deactivated_department_can_still_be_edited_and_disabled() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let officer = app
        .account("officer", Role::Department, Some(DEPT_SCJG), None)
        .await;
    let res = app
        .patch(
            &format!("/api/v1/departments/{DEPT_SCJG}"),
            &admin.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let path = format!("/api/v1/users/{}", officer.id);
    let res = app
        .patch(&path, &admin.token, json!({"display_name": "离职人员"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .patch(&path, &admin.token, json!({"active": false}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", &officer.token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Moving someone into the inactive department is still refused.
    let other = app.create_user("other", Role::Department, Some(DEPT_TAX), None);
    let res = app
        .patch(
            &format!("/api/v1/users/{other}"),
            &admin.token,
            json!({"department_id": DEPT_SCJG}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn region_filter_finds_department_accounts_by_their_departments_region() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .post(
            "/api/v1/departments",
            &admin.token,
            json!({"name": "辉南县税务局", "region_code": "220523", "kind": "unit"}),
        )
        .await;
    let dept = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap() as i32;
    app.create_user("county-officer", Role::Department, Some(dept), None);
    app.create_user("county-bureau", Role::Bureau, None, Some("220523"));
    app.create_user("city-officer", Role::Department, Some(DEPT_TAX), None);
    let page: Value = app
        .get("/api/v1/users?region_code=220523", &admin.token)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["county-officer", "county-bureau"]);
}
