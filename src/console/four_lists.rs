//! 四张清单 in the console: browse and filter items, add and edit them, publish drafts. Every
//! action calls the four lists' store, so the rules, scope and audit are the API's.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::entries::may_keep_lists;
use super::imports::ImportKind;
use super::pages::{api_error, departments, error_for, error_page, fields, invalid_messages};
use super::{forbidden_page, or_page, redirect, render, Shown, SignedIn};
use crate::auth::{AuthUser, Role};
use crate::error::ApiError;
use crate::four_lists::ItemKind;
use crate::state::AppState;

/// The filters of the 四张清单 page.
#[derive(Debug, Default, Deserialize, Serialize)]
struct ItemsQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    department_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    q: String,
    #[serde(default, skip_serializing)]
    page: Option<i64>,
    #[serde(default, skip_serializing)]
    done: Option<String>,
}

const KINDS: [(&str, &str); 4] = [
    ("red_scope", "诚信典型范围清单"),
    ("black_scope", "严重失信行为及主体范围清单"),
    ("incentive_measures", "守信激励政策措施清单"),
    ("punishment_measures", "失信惩戒政策措施清单"),
];

const ITEM_STATUSES: [(&str, &str); 3] = [
    ("draft", "草稿"),
    ("published", "已公布"),
    ("repealed", "已废止"),
];

#[derive(Serialize)]
struct ItemRow {
    item: crate::four_lists::FourListItemView,
    /// The caller may publish this item's draft version now.
    may_publish: bool,
    /// The caller may edit it (its own department's, not repealed).
    may_edit: bool,
}

/// 四张清单: the items the caller may see (drafts of the departments they manage), filtered.
#[get("/console/four-lists")]
async fn four_lists(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<ItemsQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.allowed(
        |user, _| may_keep_lists(user),
        "四张清单管理仅供工作人员使用。"
    ));
    let q = query.into_inner();
    let page = q.page.unwrap_or(1).max(1);
    let filter = crate::four_lists::store::ItemFilter {
        kind: ItemKind::parse(&q.kind),
        department_id: q.department_id.parse().ok(),
        region_code: None,
        status: Some(q.status.clone()).filter(|s| !s.is_empty()),
        q: Some(q.q.trim().to_string()).filter(|s| !s.is_empty()),
        page: Some(page),
        per_page: Some(50),
    };
    let result = match crate::four_lists::store::items_page(&state, user.clone(), filter).await {
        Ok(r) => r,
        Err(e) => return error_for(&shown, &csrf, e),
    };
    let departments = match departments(&state).await {
        Ok(d) => d,
        Err(e) => return api_error(e),
    };
    let may_publish = matches!(user.role, Role::Admin | Role::Bureau | Role::Department);
    let rows: Vec<ItemRow> = result
        .items
        .into_iter()
        .map(|item| ItemRow {
            may_edit: matches!(user.role, Role::Admin | Role::Department)
                && item.status != "repealed"
                && user.may_manage_department(item.department_id, &item.region_code),
            may_publish: may_publish
                && item.status != "repealed"
                && (item.status == "draft" || item.has_unpublished_changes)
                && user.may_manage_department(item.department_id, &item.region_code),
            item,
        })
        .collect();
    let pages = (result.total + 49) / 50;
    let done = match q.done.as_deref() {
        Some("published") => Some("已公布。"),
        _ => None,
    };
    render(
        StatusCode::OK,
        "four_lists.html",
        context! {
            user => shown, csrf => csrf, page => "four_lists", f => &q, rows => rows,
            total => result.total, current => page, pages => pages, kinds => KINDS,
            kind_zh => KINDS.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
            statuses => ITEM_STATUSES,
            status_zh => ITEM_STATUSES.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
            departments => departments, done => done,
            level_zh => basis_levels().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            may_import => ImportKind::FourLists.allowed(&user),
            may_add => may_add_items(&user),
        },
    )
}

/// 公布 an item's draft version.
#[post("/console/four-lists/{id}/publish")]
async fn four_list_publish(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    form: web::Form<super::CsrfForm>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &form.csrf));
    match crate::four_lists::store::publish(&state, user, path.into_inner()).await {
        Ok(_) => redirect("/console/four-lists?done=published"),
        Err(ApiError::Invalid {
            code: code @ "insufficient_legal_basis",
            detail,
            ..
        }) => error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &shown,
            &csrf,
            "不能公布",
            &format!(
                "{}。请修改该事项，在设定依据中注明依据层级后再公布。",
                crate::imports::zh_message(code, &detail)
            ),
        ),
        Err(e) => error_for(&shown, &csrf, e),
    }
}

/// The edit form of a four-list item as shown or typed.
#[derive(Debug, Default, Serialize)]
struct ItemForm {
    /// New items only.
    code: String,
    title: String,
    description: String,
    /// (document, article, issuer, level), three rows on the form.
    basis: Vec<(String, String, String, String)>,
    subject_kinds: Vec<String>,
    fields: Vec<String>,
    severity: String,
    validity_months: String,
    /// Scope items: `national` or `local`.
    origin: String,
}

/// The levels of a legal basis as (API value, Chinese name), for the form's select and the pages.
fn basis_levels() -> Vec<(&'static str, &'static str)> {
    crate::four_lists::LegalBasisLevel::ALL
        .iter()
        .map(|l| (l.as_str(), l.zh()))
        .collect()
}

const BASIS_ROWS: usize = 3;

impl ItemForm {
    fn of(v: &crate::four_lists::FourListItemView) -> ItemForm {
        let mut basis: Vec<(String, String, String, String)> = v
            .legal_basis
            .iter()
            .map(|b| {
                (
                    b.document.clone(),
                    b.article.clone().unwrap_or_default(),
                    b.issuer.clone().unwrap_or_default(),
                    b.level.map(|l| l.as_str().to_string()).unwrap_or_default(),
                )
            })
            .collect();
        basis.resize(basis.len().max(BASIS_ROWS), Default::default());
        ItemForm {
            code: v.code.clone(),
            title: v.title.clone(),
            description: v.description.clone(),
            basis,
            subject_kinds: v
                .subject_kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            fields: v.fields.clone(),
            severity: v
                .severity
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            validity_months: v.validity_months.map(|m| m.to_string()).unwrap_or_default(),
            origin: v.origin.map(|o| o.as_str().to_string()).unwrap_or_default(),
        }
    }

    fn from_pairs(pairs: &[(String, String)]) -> (String, ItemForm) {
        let mut csrf = String::new();
        let mut f = ItemForm::default();
        let (mut docs, mut articles, mut issuers, mut levels) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (k, v) in pairs {
            let v = v.trim().to_string();
            match k.as_str() {
                "csrf" => csrf = v,
                "code" => f.code = v,
                "title" => f.title = v,
                "description" => f.description = v,
                "basis_document" => docs.push(v),
                "basis_article" => articles.push(v),
                "basis_issuer" => issuers.push(v),
                "basis_level" => levels.push(v),
                "origin" => f.origin = v,
                "subject_kind" => f.subject_kinds.push(v),
                "field" => f.fields.push(v),
                "severity" => f.severity = v,
                "validity_months" => f.validity_months = v,
                _ => {}
            }
        }
        f.basis = docs
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    d,
                    articles.get(i).cloned().unwrap_or_default(),
                    issuers.get(i).cloned().unwrap_or_default(),
                    levels.get(i).cloned().unwrap_or_default(),
                )
            })
            .collect();
        (csrf, f)
    }

    /// The API's changes for an item of `kind`, or what the form itself cannot read.
    fn to_patch(&self, kind: ItemKind) -> Result<crate::four_lists::store::ItemPatch, Vec<String>> {
        use crate::four_lists::{ItemOrigin, LegalBasis, LegalBasisLevel, Severity, SubjectType};
        let mut errors = Vec::new();
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let legal_basis: Vec<LegalBasis> = self
            .basis
            .iter()
            .filter(|(d, a, i, l)| !(d.is_empty() && a.is_empty() && i.is_empty() && l.is_empty()))
            .map(|(d, a, i, l)| LegalBasis {
                document: d.clone(),
                article: opt(a),
                issuer: opt(i),
                level: if l.is_empty() {
                    None
                } else {
                    LegalBasisLevel::parse(l).or_else(|| {
                        errors.push("依据层级：请从列表中选择".to_string());
                        None
                    })
                },
            })
            .collect();
        let subject_kinds: Vec<SubjectType> = self
            .subject_kinds
            .iter()
            .filter_map(|k| SubjectType::parse(k))
            .collect();
        let mut patch = crate::four_lists::store::ItemPatch {
            title: Some(self.title.clone()),
            description: Some(self.description.clone()),
            legal_basis: Some(legal_basis),
            subject_kinds: Some(subject_kinds),
            ..Default::default()
        };
        match kind {
            ItemKind::BlackScope => match Severity::parse(&self.severity) {
                Some(s) => patch.severity = Some(s),
                None => errors.push("失信等级：请选择".to_string()),
            },
            ItemKind::RedScope => match self.validity_months.parse::<i32>() {
                Ok(m) => patch.validity_months = Some(m),
                Err(_) => errors.push("有效期（月）：请填写整数".to_string()),
            },
            _ => {}
        }
        match kind {
            ItemKind::RedScope | ItemKind::BlackScope => match self.origin.as_str() {
                "" => {}
                o => match ItemOrigin::parse(o) {
                    Some(o) => patch.origin = Some(o),
                    None => errors.push("设定来源：请选择".to_string()),
                },
            },
            ItemKind::IncentiveMeasures | ItemKind::PunishmentMeasures => {
                patch.fields = Some(self.fields.clone());
            }
        }
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }
}

impl ItemForm {
    /// A new item of `kind` from the form.
    fn to_new(&self, kind: ItemKind) -> Result<crate::four_lists::store::NewItem, Vec<String>> {
        let p = self.to_patch(kind)?;
        Ok(crate::four_lists::store::NewItem {
            department_id: None,
            kind,
            code: self.code.clone(),
            title: p.title.unwrap_or_default(),
            description: p.description.unwrap_or_default(),
            legal_basis: p.legal_basis.unwrap_or_default(),
            subject_kinds: p.subject_kinds.unwrap_or_default(),
            fields: p.fields.unwrap_or_default(),
            implementing_department_ids: vec![],
            linked_scope_item_ids: vec![],
            severity: p.severity,
            publication_months_min: None,
            publication_months_max: None,
            repair_after_months: None,
            repairable: None,
            repair_requires_training: None,
            repair_requires_credit_report: None,
            publicly_disclosed: None,
            repair_waiting_from: None,
            objection_accept_days: None,
            objection_verify_days: None,
            validity_months: p.validity_months,
            origin: p.origin,
        })
    }
}

/// The edit form (`item`) or the new-item form of `kind` (`item` none).
#[allow(clippy::too_many_arguments)]
async fn item_form_page(
    state: &web::Data<AppState>,
    status: StatusCode,
    shown: &Shown,
    csrf: &str,
    kind: ItemKind,
    item: Option<&crate::four_lists::FourListItemView>,
    form: &ItemForm,
    errors: &[String],
    done: bool,
) -> HttpResponse {
    match fields(state).await {
        Ok(fields) => render(
            status,
            "item_edit.html",
            context! {
                user => shown, csrf => csrf, page => "four_lists", item => item, form => form,
                kind => kind.as_str(), kinds => KINDS,
                errors => errors, fields => fields, done => done, levels => basis_levels(),
                kind_zh => KINDS.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
            },
        ),
        Err(e) => api_error(e),
    }
}

/// The item the caller may edit, or the page saying why not.
async fn editable_item(
    state: &web::Data<AppState>,
    user: &AuthUser,
    shown: &Shown,
    csrf: &str,
    id: i32,
) -> Result<crate::four_lists::FourListItemView, HttpResponse> {
    let item = crate::four_lists::store::item_by_id(state, user.clone(), id)
        .await
        .map_err(|e| error_for(shown, csrf, e))?;
    if !matches!(user.role, Role::Admin | Role::Department)
        || !user.may_manage_department(item.department_id, &item.region_code)
    {
        return Err(forbidden_page(shown, csrf, "清单事项由所属部门修改。"));
    }
    if item.status == "repealed" {
        return Err(error_page(
            StatusCode::CONFLICT,
            shown,
            csrf,
            "不能修改",
            "该事项已废止，不能再修改。",
        ));
    }
    Ok(item)
}

#[derive(Deserialize)]
struct EditQuery {
    done: Option<String>,
}

/// 修改清单事项: the form with the latest version's content.
#[get("/console/four-lists/{id}/edit")]
async fn edit_item(
    signed: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    query: web::Query<EditQuery>,
) -> HttpResponse {
    let SignedIn { user, shown, csrf } = signed;
    let item = match editable_item(&state, &user, &shown, &csrf, path.into_inner()).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let form = ItemForm::of(&item);
    let done = query.done.is_some();
    item_form_page(
        &state,
        StatusCode::OK,
        &shown,
        &csrf,
        item.kind,
        Some(&item),
        &form,
        &[],
        done,
    )
    .await
}

/// 修改清单事项: the posted form; a published item gets a new draft version.
#[post("/console/four-lists/{id}/edit")]
async fn save_item(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    body: web::Bytes,
) -> HttpResponse {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (sent_csrf, form) = ItemForm::from_pairs(&pairs);
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &sent_csrf));
    let id = path.into_inner();
    let item = match editable_item(&state, &user, &shown, &csrf, id).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let errors = match form.to_patch(item.kind) {
        Ok(patch) => match crate::four_lists::store::update(&state, user, id, patch).await {
            Ok(_) => return redirect(&format!("/console/four-lists/{id}/edit?done=saved")),
            Err(ApiError::Invalid {
                errors,
                detail,
                code,
            }) => invalid_messages(&errors, code, &detail, |f| item_field_label(f).to_string()),
            Err(e) => return error_for(&shown, &csrf, e),
        },
        Err(errors) => errors,
    };
    item_form_page(
        &state,
        StatusCode::UNPROCESSABLE_ENTITY,
        &shown,
        &csrf,
        item.kind,
        Some(&item),
        &form,
        &errors,
        false,
    )
    .await
}

#[derive(Deserialize)]
struct NewItemQuery {
    kind: Option<String>,
}

/// Officers of a department add its items (the form files for the caller's own department).
fn may_add_items(user: &AuthUser) -> bool {
    user.role == Role::Department && user.department_id.is_some()
}

/// 新增清单事项: the form for an item of the chosen list.
#[get("/console/four-lists/new")]
async fn new_item(
    signed: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<NewItemQuery>,
) -> HttpResponse {
    let SignedIn {
        user: _,
        shown,
        csrf,
    } = or_page!(signed.allowed(
        |user, _| may_add_items(user),
        "清单事项由部门工作人员新增。"
    ));
    let kind = query
        .kind
        .as_deref()
        .and_then(ItemKind::parse)
        .unwrap_or(ItemKind::BlackScope);
    let mut form = ItemForm::default();
    form.basis.resize(BASIS_ROWS, Default::default());
    form.subject_kinds = vec!["enterprise".into()];
    form.origin = "local".into();
    item_form_page(
        &state,
        StatusCode::OK,
        &shown,
        &csrf,
        kind,
        None,
        &form,
        &[],
        false,
    )
    .await
}

/// 新增清单事项: the posted form, recorded as a draft through the API's rules.
#[post("/console/four-lists/new")]
async fn add_item(
    signed: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let (sent_csrf, mut form) = ItemForm::from_pairs(&pairs);
    let SignedIn { user, shown, csrf } = or_page!(signed.posted(&req, &sent_csrf));
    if !may_add_items(&user) {
        return forbidden_page(&shown, &csrf, "清单事项由部门工作人员新增。");
    }
    let kind = pairs
        .iter()
        .find(|(k, _)| k == "kind")
        .and_then(|(_, v)| ItemKind::parse(v))
        .unwrap_or(ItemKind::BlackScope);
    let errors = match form.to_new(kind) {
        Ok(input) => match crate::four_lists::store::create(&state, user, input).await {
            Ok(item) => {
                return redirect(&format!("/console/four-lists/{}/edit?done=saved", item.id))
            }
            Err(ApiError::Invalid {
                errors,
                detail,
                code,
            }) => invalid_messages(&errors, code, &detail, |f| item_field_label(f).to_string()),
            Err(ApiError::Conflict { code, detail }) => {
                vec![format!(
                    "编码：{}",
                    crate::imports::zh_message(code, &detail)
                )]
            }
            Err(e) => return error_for(&shown, &csrf, e),
        },
        Err(errors) => errors,
    };
    form.basis
        .resize(form.basis.len().max(BASIS_ROWS), Default::default());
    item_form_page(
        &state,
        StatusCode::UNPROCESSABLE_ENTITY,
        &shown,
        &csrf,
        kind,
        None,
        &form,
        &errors,
        false,
    )
    .await
}

fn item_field_label(field: &str) -> &str {
    match field {
        "code" => "编码",
        "title" => "名称",
        "description" => "说明",
        "subject_kinds" => "适用主体",
        "fields" => "适用领域",
        "severity" => "失信等级",
        "validity_months" => "有效期（月）",
        "origin" => "设定来源",
        f if f.starts_with("legal_basis") && f.ends_with(".level") => "依据层级",
        f if f.starts_with("legal_basis") => "设定依据",
        f if f.starts_with("fields") => "适用领域",
        other => other,
    }
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(four_lists)
        .service(new_item)
        .service(add_item)
        .service(edit_item)
        .service(save_item)
        .service(four_list_publish);
}
