//! Hostile spreadsheets (issue 19): files built to spend the server's memory are refused within
//! the upload budget, the server keeps answering, and concurrent uploads are bounded.

use std::io::Write;

use credit_lists::auth::Role;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The import endpoints that read a spreadsheet, by path.
const IMPORTS: [&str; 2] = [
    "/api/v1/list-entries/import?dry_run=true&filename=x.xlsx",
    "/api/v1/four-list-items/import?dry_run=true&filename=x.xlsx",
];

/// Writes the XML of one part.
type PartWriter<'a> = &'a mut dyn FnMut(&mut dyn Write);

/// A minimal workbook: one worksheet whose `sheetData` is `sheet_data`, with an optional shared
/// strings part written by `shared`. Parts are deflated, as Excel writes them.
pub fn workbook(sheet_data: PartWriter<'_>, shared: Option<PartWriter<'_>>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let part = |zip: &mut zip::ZipWriter<_>, name: &str, text: &str| {
        zip.start_file(name, opts).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    };
    part(
        &mut zip,
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#,
    );
    part(
        &mut zip,
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    part(
        &mut zip,
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>"#,
    );
    if shared.is_some() {
        rels.push_str(r#"<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>"#);
    }
    rels.push_str("</Relationships>");
    part(&mut zip, "xl/_rels/workbook.xml.rels", &rels);
    zip.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    zip.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    )
    .unwrap();
    sheet_data(&mut zip);
    zip.write_all(b"</sheetData></worksheet>").unwrap();
    if let Some(shared) = shared {
        zip.start_file("xl/sharedStrings.xml", opts).unwrap();
        zip.write_all(
            br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
        )
        .unwrap();
        shared(&mut zip);
        zip.write_all(b"</sst>").unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Two inline-string cells at `first` and `last` (e.g. "A1" and "XFD1048576").
pub fn far_apart_cells(first: &str, last: &str) -> Vec<u8> {
    let row = |r: &str| {
        r.trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .to_string()
    };
    workbook(
        &mut |w| {
            write!(
                w,
                r#"<row r="{}"><c r="{first}" t="inlineStr"><is><t>名单类型</t></is></c></row><row r="{}"><c r="{last}" t="inlineStr"><is><t>x</t></is></c></row>"#,
                row(first),
                row(last)
            )
            .unwrap()
        },
        None,
    )
}

/// One shared string of `mib` MiB of one letter, used by cell A1.
pub fn shared_strings_bomb(mib: usize) -> Vec<u8> {
    workbook(
        &mut |w| {
            w.write_all(br#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#)
                .unwrap()
        },
        Some(&mut |w| {
            w.write_all(b"<si><t>").unwrap();
            let chunk = vec![b'a'; 1 << 20];
            for _ in 0..mib {
                w.write_all(&chunk).unwrap();
            }
            w.write_all(b"</t></si>").unwrap();
        }),
    )
}

/// A worksheet whose XML is padded with `mib` MiB of whitespace between two rows.
pub fn whitespace_bomb(mib: usize) -> Vec<u8> {
    workbook(
        &mut |w| {
            w.write_all(br#"<row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c></row>"#)
                .unwrap();
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..mib {
                w.write_all(&chunk).unwrap();
            }
            w.write_all(br#"<row r="2"><c r="A2" t="inlineStr"><is><t>v</t></is></c></row>"#)
                .unwrap();
        },
        None,
    )
}

/// `count` tiny shared strings.
fn many_shared_strings(count: usize) -> Vec<u8> {
    workbook(
        &mut |w| {
            w.write_all(br#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#)
                .unwrap()
        },
        Some(&mut |w| {
            for _ in 0..count {
                w.write_all(b"<si><t>a</t></si>").unwrap();
            }
        }),
    )
}

async fn upload(app: &TestApp, token: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
    upload_to(&app.client, &app.address, token, path, body).await
}

async fn upload_to(
    client: &reqwest::Client,
    address: &str,
    token: &str,
    path: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .post(format!("{address}{path}"))
        .bearer_auth(token)
        .header("content-type", XLSX)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn officer(app: &TestApp) -> String {
    app.account("tax-officer", Role::Department, Some(DEPT_TAX), None)
        .await
        .token
}

async fn assert_healthy(app: &TestApp) {
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn cells_far_apart_are_read_as_what_the_file_holds() {
    let app = spawn_app().await;
    let token = officer(&app).await;
    let file = far_apart_cells("A1", "XFD1048576");
    assert!(file.len() < 4096, "{} bytes", file.len());
    for path in IMPORTS {
        let res = upload(&app, &token, path, file.clone()).await;
        let p = assert_problem(res, StatusCode::BAD_REQUEST, "too_many_columns").await;
        let message = p["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("row 1048576") && message.contains("limit: 100"),
            "{p}"
        );
        assert_eq!(p["errors"][0]["field"], "body");
        assert_healthy(&app).await;
    }
    // Within the column limit, the two cells are one header and one data row: read at once,
    // then refused by the import for its missing columns.
    let res = upload(&app, &token, IMPORTS[0], far_apart_cells("A1", "CV1048576")).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    assert_eq!(p["rows"][0]["code"], "missing_column", "{p}");
    assert_healthy(&app).await;
}

#[tokio::test]
async fn a_shared_strings_bomb_is_refused_before_it_is_unpacked() {
    let app = spawn_app().await;
    let token = officer(&app).await;
    let file = shared_strings_bomb(300);
    assert!(file.len() < 1 << 20, "{} bytes", file.len());
    for path in IMPORTS {
        let res = upload(&app, &token, path, file.clone()).await;
        let p = assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "part_too_large").await;
        let message = p["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("xl/sharedStrings.xml"), "{p}");
        assert!(message.contains(&format!("limit: {}", 32 << 20)), "{p}");
        assert_healthy(&app).await;
    }
}

#[tokio::test]
async fn a_whitespace_bomb_and_too_many_shared_strings_are_refused() {
    let app = spawn_app_with(|s| {
        s.upload_max_unpacked_bytes = 64 << 20;
    })
    .await;
    let token = officer(&app).await;
    // Whitespace between rows is one text node to an XML reader: longer than a token may be.
    let res = upload(&app, &token, IMPORTS[0], whitespace_bomb(8)).await;
    let p = assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "xml_token_too_long").await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("xl/worksheets/sheet1.xml"),
        "{p}"
    );
    // Past the unpacked budget as a whole (the setting), whatever the tokens.
    let res = upload(&app, &token, IMPORTS[1], whitespace_bomb(100)).await;
    let p = assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "unpacked_too_large").await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("limit: {}", 64 << 20)),
        "{p}"
    );
    let res = upload(&app, &token, IMPORTS[0], many_shared_strings(1_000_001)).await;
    assert_problem(
        res,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_shared_strings",
    )
    .await;
    assert_healthy(&app).await;
}

#[tokio::test]
async fn text_and_cell_budgets_are_settings() {
    let app = spawn_app_with(|s| {
        s.upload_max_cells = 10;
        s.upload_max_text_bytes = 1000;
    })
    .await;
    let token = officer(&app).await;
    let csv = |rows: usize, width: usize| {
        let mut text = String::new();
        for r in 0..=rows {
            let line: Vec<String> = (0..width).map(|c| format!("r{r}c{c}")).collect();
            text.push_str(&line.join(","));
            text.push('\n');
        }
        text.into_bytes()
    };
    // Tables held in memory (the console's import form) are bounded by these budgets; the
    // streamed API imports read one row at a time and are bounded by `import_max_rows`.
    app.create_user("tax-console", Role::Department, Some(DEPT_TAX), None);
    let (cookie, csrf) = console_login(&app, "tax-console").await;
    // 6 rows of 2 columns = 12 cells > 10.
    let res = console_upload(&app, &cookie, &csrf, "x.csv", &csv(6, 2)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("10"));
    let res = console_upload(
        &app,
        &cookie,
        &csrf,
        "x.csv",
        &csv(3, 1)
            .into_iter()
            .chain(vec![b'x'; 1200])
            .collect::<Vec<u8>>(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("1000"));
    // The same files through the API: read row by row, so only their rows are judged.
    let res = app
        .client
        .post(app.url("/api/v1/list-entries/import?dry_run=true"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv(6, 2))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "import_rejected").await;
    // A cell longer than Excel's own limit, in a workbook.
    let long = "长".repeat(32_768);
    let file = workbook(
        &mut |w| {
            write!(
                w,
                r#"<row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c></row><row r="2"><c r="B2" t="inlineStr"><is><t>{long}</t></is></c></row>"#
            )
            .unwrap()
        },
        None,
    );
    let app = spawn_app().await;
    let token = officer(&app).await;
    let res = upload(&app, &token, IMPORTS[0], file).await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "cell_too_long").await;
    assert!(
        p["detail"].as_str().unwrap().contains("row 2, column 2"),
        "{p}"
    );
}

/// `credit_lists_uploads_in_progress` from `/metrics`.
async fn uploads_in_progress(app: &TestApp) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("credit_lists_uploads_in_progress "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the gauge is in /metrics")
}

/// Sends a request head announcing a large upload and part of its body, and keeps the
/// connection open: the server holds an upload slot for it.
async fn hold_an_upload(app: &TestApp, token: &str) -> tokio::net::TcpStream {
    let addr = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/list-entries/import?dry_run=true HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: text/csv\r\nContent-Length: 1000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"a,b\n1,2\n").await.unwrap();
    stream.flush().await.unwrap();
    stream
}

#[tokio::test]
async fn concurrent_uploads_are_bounded_and_the_server_keeps_answering() {
    let app = spawn_app_with(|s| s.upload_max_concurrent = 2).await;
    let token = officer(&app).await;
    let first = hold_an_upload(&app, &token).await;
    let second = hold_an_upload(&app, &token).await;
    // Both slots are taken once the server has read both heads.
    let mut in_use = 0;
    for _ in 0..500 {
        in_use = uploads_in_progress(&app).await;
        if in_use == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(in_use, 2, "two held uploads take both slots");
    let mut refused = None;
    for _ in 0..200 {
        let res = upload(&app, &token, IMPORTS[0], far_apart_cells("A1", "B2")).await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(res);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let res = refused.expect("a third upload is refused while two are read");
    assert_eq!(res.headers()["retry-after"], "5");
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "too_many_uploads").await;
    // Everything else still answers.
    assert_healthy(&app).await;
    let res = app.get("/api/v1/list-entries", &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    // A client that goes away gives its slot back.
    drop(first);
    drop(second);
    for _ in 0..500 {
        if uploads_in_progress(&app).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(uploads_in_progress(&app).await, 0);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..200 {
        status = upload(&app, &token, IMPORTS[0], far_apart_cells("A1", "B2"))
            .await
            .status();
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Logs in to the console as a browser would; returns the cookie header and the form token.
async fn console_login(app: &TestApp, username: &str) -> (String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookies = |res: &reqwest::Response| -> Vec<String> {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .collect()
    };
    let form_token = |page: &str| {
        let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        page[at..at + 64].to_string()
    };
    let res = client.get(app.url("/console/login")).send().await.unwrap();
    let mut jar = cookies(&res);
    let csrf = form_token(&res.text().await.unwrap());
    let res = client
        .post(app.url("/console/login"))
        .header("cookie", jar.join("; "))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for c in cookies(&res) {
        let name = c.split('=').next().unwrap().to_string();
        jar.retain(|old| !old.starts_with(&format!("{name}=")));
        jar.push(c);
    }
    let res = client
        .get(app.url("/console/entries/import"))
        .header("cookie", jar.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for c in cookies(&res) {
        let name = c.split('=').next().unwrap().to_string();
        jar.retain(|old| !old.starts_with(&format!("{name}=")));
        jar.push(c);
    }
    let csrf = form_token(&res.text().await.unwrap());
    (jar.join("; "), csrf)
}

/// Posts a file to the console's entries import form (a dry run).
async fn console_upload(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    filename: &str,
    file: &[u8],
) -> reqwest::Response {
    let boundary = "----credit-lists-upload-test";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\n1\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    app.client
        .post(app.url("/console/entries/import"))
        .header("cookie", cookie)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_console_import_form_is_bounded_too() {
    let app = spawn_app().await;
    app.create_user("tax-officer", Role::Department, Some(DEPT_TAX), None);
    let (cookie, csrf) = console_login(&app, "tax-officer").await;
    for (file, status, text) in [
        (
            far_apart_cells("A1", "XFD1048576"),
            StatusCode::BAD_REQUEST,
            "column 16384",
        ),
        (
            shared_strings_bomb(300),
            StatusCode::PAYLOAD_TOO_LARGE,
            "上限 33554432",
        ),
    ] {
        let res = console_upload(&app, &cookie, &csrf, "x.xlsx", &file).await;
        assert_eq!(res.status(), status);
        let page = res.text().await.unwrap();
        assert!(page.contains(text), "{page}");
        assert_healthy(&app).await;
    }
}

/// The real binary: the hostile files of issue 19, one after another and six bombs at once, never
/// take its resident memory more than 200 MB above what it used before them.
#[tokio::test]
async fn hostile_uploads_keep_the_real_servers_memory_bounded() {
    let (db, _d) = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = crate::process::start_server_env(
        &db,
        dir.path(),
        true,
        &[("CREDIT_LISTS_UPLOAD_MAX_CONCURRENT", "6")],
    );
    let pid = child.id();
    let client = reqwest::Client::new();
    let token = crate::process::login_to(&client, &address, "demo-tax").await;
    let health = || async {
        let res = client
            .get(format!("{address}/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok", "{body}");
    };
    // The peak so far (demo seeding) is forgotten: from here VmHWM is the uploads' own peak.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS");
    let before = rss_kib(pid, "VmRSS:");
    let files = [
        far_apart_cells("A1", "XFD1048576"),
        far_apart_cells("A1", "CV1048576"),
        shared_strings_bomb(300),
        whitespace_bomb(400),
    ];
    for file in &files {
        for path in IMPORTS {
            let res = upload_to(&client, &address, &token, path, file.clone()).await;
            assert!(res.status().is_client_error(), "{}", res.status());
            health().await;
        }
    }
    let bomb = shared_strings_bomb(300);
    let six = (0..6).map(|_| upload_to(&client, &address, &token, IMPORTS[0], bomb.clone()));
    for res in futures_util::future::join_all(six).await {
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let peak = rss_kib(pid, "VmHWM:");
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("hostile uploads: RSS before {before} KiB, peak {peak} KiB (+{grown_mib} MiB)");
    assert!(
        grown_mib < 200,
        "peak RSS {peak} KiB, {grown_mib} MiB above {before} KiB"
    );
    health().await;
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A memory figure of `/proc/<pid>/status` in KiB (`VmRSS:` now, `VmHWM:` the peak).
fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(u64::MAX)
}
