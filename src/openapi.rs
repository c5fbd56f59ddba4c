//! The OpenAPI description. Paths are collected from the routes themselves
//! (`utoipa-actix-web`), so a route cannot be served without being documented.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "credit-lists",
        description = "Joint reward-and-punishment lists service (守信联合激励和失信联合惩戒) of Tonghua: \
the four lists (信用\"四张清单\"), red and black lists (红黑名单), credit repair (信用修复), cases \
(联合奖惩案例) and year-end targets. Errors are RFC 9457 problem details \
(`application/problem+json`) with a stable `code`.",
        license(name = "MIT"),
        contact(name = "credit-lists maintainers")
    ),
    servers(
        (url = "/", description = "The server that serves this document: paths are relative to its origin, so the one document fits every deployment (docs/api.md, \"The OpenAPI document\")")
    ),

    modifiers(&BearerScheme),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Login, token refresh, logout, own account"),
        (name = "users", description = "Account management (admin)"),
        (name = "organisation", description = "Regions (行政区划) and departments (部门)"),
        (name = "audit", description = "Audit trail (审计日志)"),
        (name = "four-lists", description = "The four lists (信用\"四张清单\") and the fields (领域) vocabulary"),
        (name = "list-entries", description = "Red and black list entries (红黑名单)"),
        (name = "national-sources", description = "National sources (国家层面认定的名单来源) and their sync: snapshots and deltas of the court's, tax and market regulation lists"),
        (name = "subjects", description = "Subjects (主体): profile and search"),
        (name = "public", description = "Anonymous, read-only disclosure (对外公开)"),
        (name = "calendar", description = "Working-day calendar (工作日历): public holidays, make-up working days (调休) and working-day deadlines"),
        (name = "baselines", description = "Declared counts of national-level identifications (国家层面认定), the year-end target denominator"),
        (name = "receipt-log", description = "Signed receipts: the keys that sign check answers, and the append-only receipt log (RFC 9162) with signed checkpoints and consistency proofs"),
        (name = "credit-checks", description = "Credit checks (信用核查) for approval systems: verdict with applicable measures, receipts (核查记录), batch, feedback (反馈), usage statistics"),
        (name = "watches", description = "Watched subjects and their notification feed (事中事后监管)"),
        (name = "repair", description = "Credit repair (信用修复): commitment letters (信用承诺书) and templates, repair training (信用修复培训), public-service records, proof documents, and the repair application with its two-level review"),
        (name = "targets", description = "Year-end targets (年度目标, section 六): list coverage, repair training and commitment rates, with numerators, denominators and shortfalls"),
        (name = "cases", description = "Reward-and-punishment cases (联合奖惩案例): filing, submission, sharing with the province, corrections, media reports (媒体报道), export"),
        (name = "statistics", description = "Monthly statistics (按月统计) and month close"),
        (name = "feed", description = "Event feed to the provincial platform (共享至省平台): cursor reads and push delivery status"),
        (name = "documents", description = "Documents ready to print (文书): 信用核查结果单, repair notices and decisions, 告知书, as stored when issued"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
    }
}

/// The full document, as served at `/api-docs/openapi.json` and committed in
/// `openapi/openapi.json`.
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::routes)
        .split_for_parts()
        .1;
    add_extractor_problems(&mut doc);
    add_query_text_pattern(&mut doc);
    ref_page_items(&mut doc);
    doc
}

/// `Page<T>` is generated with `T` inlined as its items (`Page_ReceiptSummary`); where `T` is a
/// component of its own, the items refer to it instead, so that a generated client has one type
/// for `T` and no component is left unused.
fn ref_page_items(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::ArrayItems;
    use utoipa::openapi::{Ref, RefOr, Schema};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let names: Vec<String> = components.schemas.keys().cloned().collect();
    for name in names {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        if !components.schemas.contains_key(item) {
            continue;
        }
        if let Some(RefOr::T(Schema::Object(page))) = components.schemas.get_mut(&name) {
            if let Some(RefOr::T(Schema::Array(items))) = page.properties.get_mut("items") {
                items.items = ArrayItems::RefOrSchema(Box::new(Ref::from_schema_name(item).into()));
            }
        }
    }
}

/// Gives every query parameter that is free text (a string without a pattern, format or enum)
/// the pattern [`crate::http::QUERY_TEXT_PATTERN`], which `http::query_text` enforces for all
/// query parameters: a request the document admits is then never refused for its shape.
fn add_query_text_pattern(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{SchemaType, Type};
    use utoipa::openapi::{RefOr, Schema};
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for p in op.parameters.iter_mut().flatten() {
                let RefOr::T(p) = p else { continue };
                if !matches!(p.parameter_in, ParameterIn::Query) {
                    continue;
                }
                if let Some(RefOr::T(Schema::Object(o))) = &mut p.schema {
                    if matches!(o.schema_type, SchemaType::Type(Type::String))
                        && o.pattern.is_none()
                        && o.format.is_none()
                        && o.enum_values.is_none()
                    {
                        o.pattern = Some(crate::http::QUERY_TEXT_PATTERN.to_string());
                    }
                }
            }
        }
    }
}

/// Documents the problems every operation can answer before its handler runs, from the shared
/// extractors and error handlers (`error.rs`): 400 for a path or query parameter that does not
/// parse or a body that is not the JSON asked for, 413 for a body over the limit (a JSON body's
/// limit is also said in the request body's description), 415 for a JSON
/// body sent with another content type, 401 for a secured operation without a valid token. Only
/// added where the operation does not document the status itself.
fn add_extractor_problems(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let params = op.parameters.iter().flatten().any(|p| match p {
                RefOr::T(p) => matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query),
                RefOr::Ref(_) => true,
            });
            let (body, json_body) = match &mut op.request_body {
                Some(RefOr::T(b)) => {
                    let json = b.content.contains_key("application/json");
                    if json && b.description.is_none() {
                        b.description = Some(
                            "JSON, at most `max_body_bytes` (1 MiB by default; larger is 413)"
                                .to_string(),
                        );
                    }
                    (true, json)
                }
                Some(RefOr::Ref(_)) => (true, true),
                None => (false, false),
            };
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let responses = &mut op.responses.responses;
            let mut add = |code: &str, description: &str| {
                responses
                    .entry(code.to_string())
                    .or_insert_with(|| problem(description));
            };
            if params || body {
                add("400", "A parameter or the body could not be read");
            }
            if json_body {
                add(
                    "413",
                    "The body is over `max_body_bytes` (1 MiB by default): `payload_too_large`",
                );
            } else if body {
                add("413", "The body is over the size limit");
            }
            if json_body {
                add("415", "The body is not application/json");
            }
            if secured {
                add("401", "Not authenticated");
            }
        }
    }
}

/// Pretty JSON with a final newline: the exact bytes of `openapi/openapi.json`.
pub fn spec_json() -> String {
    let mut s = spec()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    s.push('\n');
    s
}
