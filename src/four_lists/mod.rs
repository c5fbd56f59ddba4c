//! The four lists (信用"四张清单") of each department: `red_scope` (诚信典型范围清单),
//! `black_scope` (严重失信行为及主体范围清单), `incentive_measures` (守信激励政策措施清单) and
//! `punishment_measures` (失信惩戒政策措施清单).
//!
//! An item is draft → published → repealed. Its content lives in numbered versions: a published
//! version is never edited; a change to a published item is a new draft version, which replaces
//! the published one when it is published. List entries cite the exact version they follow.

pub mod fields;
pub mod handlers;
pub mod import;
pub mod public;
pub mod store;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::{ApiError, FieldError};
use crate::schema::{application_fields, departments, four_list_item_versions, four_list_items};

/// Which of the four lists an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// 诚信典型范围清单: who may be red-listed.
    RedScope,
    /// 严重失信行为及主体范围清单: who may be black-listed.
    BlackScope,
    /// 守信激励政策措施清单: measures for red-listed subjects.
    IncentiveMeasures,
    /// 失信惩戒政策措施清单: measures for black-listed subjects.
    PunishmentMeasures,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::RedScope => "red_scope",
            ItemKind::BlackScope => "black_scope",
            ItemKind::IncentiveMeasures => "incentive_measures",
            ItemKind::PunishmentMeasures => "punishment_measures",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ItemKind::RedScope,
            ItemKind::BlackScope,
            ItemKind::IncentiveMeasures,
            ItemKind::PunishmentMeasures,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn is_measure(self) -> bool {
        matches!(
            self,
            ItemKind::IncentiveMeasures | ItemKind::PunishmentMeasures
        )
    }

    /// The scope kind a measure follows from.
    pub fn scope_for_measure(self) -> Option<ItemKind> {
        match self {
            ItemKind::IncentiveMeasures => Some(ItemKind::RedScope),
            ItemKind::PunishmentMeasures => Some(ItemKind::BlackScope),
            _ => None,
        }
    }
}

pub use crate::domain::SubjectType;

/// Severity tier of a black-list scope item (失信严重程度), which fixes its default publication
/// and repair periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// 轻微: normally not published; where it is, at most 3 months, and repairable once the
    /// obligations are fulfilled.
    Minor,
    /// 一般: 3 months – 1 year; repairable after the minimum.
    General,
    /// 严重: 1 – 3 years; repairable after the minimum.
    Serious,
    /// 特定严重: the maximum period; not repairable.
    SpecificSerious,
}

/// Publication and repair periods of a tier, in months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierPeriods {
    pub publication_months_min: i32,
    pub publication_months_max: i32,
    pub repair_after_months: Option<i32>,
    pub repairable: bool,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::General => "general",
            Severity::Serious => "serious",
            Severity::SpecificSerious => "specific_serious",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Severity::Minor,
            Severity::General,
            Severity::Serious,
            Severity::SpecificSerious,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// National defaults (发改办财金〔2019〕527号; 国办发〔2025〕22号, NDRC Order 36 of 2025). They
    /// are only defaults: each item stores its own periods, editable.
    pub fn default_periods(self) -> TierPeriods {
        match self {
            Severity::Minor => TierPeriods {
                publication_months_min: 0,
                publication_months_max: 3,
                repair_after_months: Some(0),
                repairable: true,
            },
            Severity::General => TierPeriods {
                publication_months_min: 3,
                publication_months_max: 12,
                repair_after_months: Some(3),
                repairable: true,
            },
            Severity::Serious => TierPeriods {
                publication_months_min: 12,
                publication_months_max: 36,
                repair_after_months: Some(12),
                repairable: true,
            },
            Severity::SpecificSerious => TierPeriods {
                publication_months_min: 36,
                publication_months_max: 36,
                repair_after_months: None,
                repairable: false,
            },
        }
    }
}

/// The day a black-list entry's repair waiting period counts from (修复等待期起算).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitingFrom {
    /// 自认定之日起: the determination date (the national default).
    Determination,
    /// 自纠正失信行为之日起: the day the subject corrected its conduct, given with the repair
    /// application (e.g. 人社部令第45号: early removal six months after the correction).
    Correction,
}

impl WaitingFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingFrom::Determination => "determination",
            WaitingFrom::Correction => "correction",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [WaitingFrom::Determination, WaitingFrom::Correction]
            .into_iter()
            .find(|w| w.as_str() == s)
    }
}

/// Longest publication of minor-tier (轻微) information that is published at all, in months
/// (国办发〔2025〕22号).
pub const MINOR_PUBLICATION_MONTHS_MAX: i32 = 3;

/// The level (效力层级) of a legal-basis document: `law` 法律, `administrative_regulation`
/// 行政法规, `departmental_rule` 部门规章, `local_regulation` 地方性法规, `local_government_rule`
/// 地方政府规章, `central_policy_document` 党中央国务院政策文件, `normative_document` 其他规范性文件.
/// 国办发〔2020〕49号 (五)(六) say which levels may found a punishment measure or a local black
/// list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasisLevel {
    /// 法律: adopted by the National People's Congress or its Standing Committee.
    Law,
    /// 行政法规: issued by the State Council (国务院令).
    AdministrativeRegulation,
    /// 部门规章: a rule of a State Council department (部门令).
    DepartmentalRule,
    /// 地方性法规: adopted by a provincial (or city) people's congress or its standing committee.
    LocalRegulation,
    /// 地方政府规章: a rule of a provincial or city government.
    LocalGovernmentRule,
    /// 党中央、国务院政策文件: a policy document of the Party Central Committee or the State Council
    /// (中发, 国发, 中办发, 国办发 ...).
    CentralPolicyDocument,
    /// 其他规范性文件: any other normative document (departmental notices, memoranda of
    /// cooperation, provincial or local documents ...).
    NormativeDocument,
}

impl LegalBasisLevel {
    pub const ALL: [LegalBasisLevel; 7] = [
        LegalBasisLevel::Law,
        LegalBasisLevel::AdministrativeRegulation,
        LegalBasisLevel::DepartmentalRule,
        LegalBasisLevel::LocalRegulation,
        LegalBasisLevel::LocalGovernmentRule,
        LegalBasisLevel::CentralPolicyDocument,
        LegalBasisLevel::NormativeDocument,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasisLevel::Law => "law",
            LegalBasisLevel::AdministrativeRegulation => "administrative_regulation",
            LegalBasisLevel::DepartmentalRule => "departmental_rule",
            LegalBasisLevel::LocalRegulation => "local_regulation",
            LegalBasisLevel::LocalGovernmentRule => "local_government_rule",
            LegalBasisLevel::CentralPolicyDocument => "central_policy_document",
            LegalBasisLevel::NormativeDocument => "normative_document",
        }
    }

    /// The level's Chinese name, as staff and the public read it.
    pub fn zh(self) -> &'static str {
        match self {
            LegalBasisLevel::Law => "法律",
            LegalBasisLevel::AdministrativeRegulation => "行政法规",
            LegalBasisLevel::DepartmentalRule => "部门规章",
            LegalBasisLevel::LocalRegulation => "地方性法规",
            LegalBasisLevel::LocalGovernmentRule => "地方政府规章",
            LegalBasisLevel::CentralPolicyDocument => "党中央国务院政策文件",
            LegalBasisLevel::NormativeDocument => "其他规范性文件",
        }
    }

    /// The API value or the Chinese name (a few common spellings accepted).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s || l.zh() == s)
            .or(match s {
                "党中央、国务院政策文件" | "中央政策文件" => {
                    Some(LegalBasisLevel::CentralPolicyDocument)
                }
                "规范性文件" => Some(LegalBasisLevel::NormativeDocument),
                _ => None,
            })
    }
}

/// Who sets a red or black list (scope items only): a national authority, or this city.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemOrigin {
    /// 国家层面设定: a list set by a national authority and applied here (the courts'
    /// 失信被执行人, tax's 重大税收违法失信主体, market regulation's 严重违法失信名单 ...).
    National,
    /// 本地设定: a list the city (or province) sets itself. A local black list must rest on a law,
    /// administrative regulation, departmental rule or local regulation (国办发〔2020〕49号 (五)(六)).
    Local,
}

impl ItemOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemOrigin::National => "national",
            ItemOrigin::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "national" => Some(ItemOrigin::National),
            "local" => Some(ItemOrigin::Local),
            _ => None,
        }
    }
}

/// Why an item's legal basis may not found a published version, or `None` when it may:
/// under 国办发〔2020〕49号 (五)(六) a punishment measure rests on a law, a regulation (administrative
/// or local), a departmental rule or a central policy document, and a black list set locally rests
/// on a law, administrative regulation, departmental rule or local regulation. Other kinds (and
/// black lists a national authority sets) carry no such condition here.
pub fn basis_shortfall(
    kind: ItemKind,
    origin: Option<ItemOrigin>,
    basis: &[LegalBasis],
) -> Option<&'static str> {
    use LegalBasisLevel::*;
    let (accepted, message): (&[LegalBasisLevel], &'static str) = match (kind, origin) {
        (ItemKind::PunishmentMeasures, _) => (
            &[Law, AdministrativeRegulation, DepartmentalRule, LocalRegulation, CentralPolicyDocument],
            "a punishment measure must rest on a law, administrative regulation, departmental rule, \
             local regulation or central policy document (国办发〔2020〕49号): state the level of a \
             basis of one of these levels",
        ),
        (ItemKind::BlackScope, Some(ItemOrigin::Local) | None) => (
            &[Law, AdministrativeRegulation, DepartmentalRule, LocalRegulation],
            "a black list set locally must rest on a law, administrative regulation, departmental \
             rule or local regulation (国办发〔2020〕49号): state the level of a basis of one of \
             these levels, or mark the item's origin national",
        ),
        _ => return None,
    };
    let met = basis
        .iter()
        .any(|b| b.level.is_some_and(|l| accepted.contains(&l)));
    (!met).then_some(message)
}

/// Legal basis (依据) of an item: a law, regulation or policy document and its article.
// Fields in sorted order: a check answer serialises in its RFC 8785 form (`receipt_hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    #[schema(example = "第六十三条")]
    pub article: Option<String>,
    #[schema(
        example = "《中华人民共和国税收征收管理法》",
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*[^\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069][^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    )]
    pub document: String,
    #[schema(example = "全国人民代表大会常务委员会")]
    pub issuer: Option<String>,
    /// The document's level (效力层级); null when not stated (rows stored before levels were
    /// recorded). Drafts may leave it out; publishing a punishment measure or a local black scope
    /// item needs a row of a sufficient level.
    #[serde(default)]
    pub level: Option<LegalBasisLevel>,
}

/// The versioned content of an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemContent {
    pub title: String,
    pub description: String,
    pub legal_basis: Vec<LegalBasis>,
    pub subject_kinds: Vec<SubjectType>,
    pub fields: Vec<String>,
    pub implementing_department_ids: Vec<i32>,
    pub linked_scope_item_ids: Vec<i32>,
    pub severity: Option<Severity>,
    pub publication_months_min: Option<i32>,
    pub publication_months_max: Option<i32>,
    pub repair_after_months: Option<i32>,
    pub repairable: Option<bool>,
    pub repair_requires_training: Option<bool>,
    /// Black-list scope items: the standard asks for a credit report (信用报告) among the repair
    /// materials (default false).
    pub repair_requires_credit_report: Option<bool>,
    pub publicly_disclosed: Option<bool>,
    pub repair_waiting_from: Option<WaitingFrom>,
    pub objection_accept_days: Option<i32>,
    pub objection_verify_days: Option<i32>,
    pub validity_months: Option<i32>,
    pub origin: Option<ItemOrigin>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = four_list_items)]
pub struct ItemRow {
    pub id: i32,
    pub department_id: i32,
    pub kind: String,
    pub code: String,
    pub status: String,
    pub latest_version: i32,
    pub published_version: Option<i32>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    pub published_at: Option<chrono::NaiveDateTime>,
    pub repealed_at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = four_list_item_versions)]
pub struct VersionRow {
    pub item_id: i32,
    pub version: i32,
    pub status: String,
    pub title: String,
    pub description: String,
    pub legal_basis: String,
    pub subject_kinds: String,
    pub fields: String,
    pub implementing_departments: String,
    pub linked_scope_items: String,
    pub severity: Option<String>,
    pub publication_months_min: Option<i32>,
    pub publication_months_max: Option<i32>,
    pub repair_after_months: Option<i32>,
    pub repairable: Option<bool>,
    pub repair_requires_training: Option<bool>,
    /// Black-list scope items: the standard asks for a credit report (信用报告) among the repair
    /// materials (default false).
    pub repair_requires_credit_report: Option<bool>,
    pub publicly_disclosed: Option<bool>,
    pub repair_waiting_from: Option<String>,
    pub objection_accept_days: Option<i32>,
    pub objection_verify_days: Option<i32>,
    pub validity_months: Option<i32>,
    pub created_at: chrono::NaiveDateTime,
    pub created_by: Option<i32>,
    pub published_at: Option<chrono::NaiveDateTime>,
    pub origin: Option<String>,
}

fn parse_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

impl VersionRow {
    pub fn content(&self) -> ItemContent {
        ItemContent {
            title: self.title.clone(),
            description: self.description.clone(),
            legal_basis: parse_json(&self.legal_basis),
            subject_kinds: parse_json(&self.subject_kinds),
            fields: parse_json(&self.fields),
            implementing_department_ids: parse_json(&self.implementing_departments),
            linked_scope_item_ids: parse_json(&self.linked_scope_items),
            severity: self.severity.as_deref().and_then(Severity::parse),
            publication_months_min: self.publication_months_min,
            publication_months_max: self.publication_months_max,
            repair_after_months: self.repair_after_months,
            repairable: self.repairable,
            repair_requires_training: self.repair_requires_training,
            repair_requires_credit_report: self.repair_requires_credit_report,
            publicly_disclosed: self.publicly_disclosed,
            repair_waiting_from: self
                .repair_waiting_from
                .as_deref()
                .and_then(WaitingFrom::parse),
            objection_accept_days: self.objection_accept_days,
            objection_verify_days: self.objection_verify_days,
            validity_months: self.validity_months,
            origin: self.origin.as_deref().and_then(ItemOrigin::parse),
        }
    }
}

/// An item as staff see it: identity, lifecycle, and the content of one version.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FourListItemView {
    pub id: i32,
    pub department_id: i32,
    #[schema(example = "市税务局")]
    pub department_name: String,
    /// Region of the owning department.
    pub region_code: String,
    pub kind: ItemKind,
    /// Unique within the department.
    #[schema(example = "SW-HEI-001")]
    pub code: String,
    /// `draft`, `published` or `repealed`.
    pub status: String,
    /// The version whose content this view shows.
    pub version: i32,
    /// `draft`, `published`, `superseded` or `repealed`.
    pub version_status: String,
    pub latest_version: i32,
    /// The version in force, if the item was ever published.
    pub published_version: Option<i32>,
    /// A draft version newer than the published one exists.
    pub has_unpublished_changes: bool,
    pub title: String,
    pub description: String,
    pub legal_basis: Vec<LegalBasis>,
    pub subject_kinds: Vec<SubjectType>,
    /// Measures: codes of the fields (领域) where they apply.
    pub fields: Vec<String>,
    /// Measures: departments that carry them out (实施部门).
    pub implementing_department_ids: Vec<i32>,
    /// Measures: the scope items they follow from.
    pub linked_scope_item_ids: Vec<i32>,
    /// Black-list scope items: severity tier.
    pub severity: Option<Severity>,
    pub publication_months_min: Option<i32>,
    pub publication_months_max: Option<i32>,
    pub repair_after_months: Option<i32>,
    pub repairable: Option<bool>,
    /// Black-list scope items: whether the item's standard makes repair training (信用修复培训;
    /// for individuals training or public service) a condition of repair. False unless the law,
    /// regulation or rule behind the list says so: the rules in force ask for proof of fulfilment
    /// and a commitment only.
    pub repair_requires_training: Option<bool>,
    /// Black-list scope items: the standard asks for a credit report (信用报告) among the repair
    /// materials (default false).
    pub repair_requires_credit_report: Option<bool>,
    /// Black-list scope items: whether entries of this item are published (公开公示) on the public
    /// endpoints. Default true, except the minor tier (轻微), whose information is normally not
    /// published (国办发〔2025〕22号); a minor item published at all is published for at most 3 months.
    pub publicly_disclosed: Option<bool>,
    /// Black-list scope items: the day the repair waiting period (`repair_after_months`) counts
    /// from: `determination` (the determination date, default) or `correction` (the day the subject
    /// corrected its conduct, given with the application; e.g. 人社部令第45号).
    pub repair_waiting_from: Option<WaitingFrom>,
    /// Scope items: working days to accept (受理) an objection to an entry, from its receipt
    /// (default 2).
    pub objection_accept_days: Option<i32>,
    /// Scope items: working days to verify (核实) and answer an objection (default 10).
    pub objection_verify_days: Option<i32>,
    /// Red-list scope items: validity of a listing, in months.
    pub validity_months: Option<i32>,
    /// Scope items: who sets the list (`national` or `local`, default `local`).
    pub origin: Option<ItemOrigin>,
    /// Whether this version's legal basis may found a published version (国办发〔2020〕49号
    /// (五)(六)): false for a punishment measure without a law, administrative regulation,
    /// departmental rule, local regulation or central policy document among its rows, and for a
    /// local black scope item without a law, administrative regulation, departmental rule or local
    /// regulation. Always true for other items.
    pub legal_basis_sufficient: bool,
    /// The same for the version in force (`published_version`); null when the item was never
    /// published. A published item whose basis falls short keeps working (entries, checks) and is
    /// flagged until a version with a sufficient basis is published.
    pub published_legal_basis_sufficient: Option<bool>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub created_at: chrono::NaiveDateTime,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::http::utc")]
    pub updated_at: chrono::NaiveDateTime,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub published_at: Option<chrono::NaiveDateTime>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default, with = "crate::http::utc::option")]
    pub repealed_at: Option<chrono::NaiveDateTime>,
}

pub fn find_item(conn: &mut DbConnection, id: i32) -> Result<Option<ItemRow>, ApiError> {
    Ok(four_list_items::table
        .find(id)
        .select(ItemRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_version(
    conn: &mut DbConnection,
    id: i32,
    version: i32,
) -> Result<Option<VersionRow>, ApiError> {
    Ok(four_list_item_versions::table
        .find((id, version))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn view(
    conn: &mut DbConnection,
    item: &ItemRow,
    version: &VersionRow,
) -> Result<FourListItemView, ApiError> {
    let (department_name, region_code): (String, String) = departments::table
        .find(item.department_id)
        .select((departments::name, departments::region_code))
        .first(conn)?;
    let c = version.content();
    let kind =
        ItemKind::parse(&item.kind).ok_or_else(|| ApiError::internal("unknown item kind"))?;
    let legal_basis_sufficient = basis_shortfall(kind, c.origin, &c.legal_basis).is_none();
    let published_legal_basis_sufficient = match item.published_version {
        None => None,
        Some(p) if p == version.version => Some(legal_basis_sufficient),
        Some(p) => {
            let pc = find_version(conn, item.id, p)?
                .ok_or_else(|| ApiError::internal("missing published version"))?
                .content();
            Some(basis_shortfall(kind, pc.origin, &pc.legal_basis).is_none())
        }
    };
    Ok(FourListItemView {
        id: item.id,
        department_id: item.department_id,
        department_name,
        region_code,
        kind,
        code: item.code.clone(),
        status: item.status.clone(),
        version: version.version,
        version_status: version.status.clone(),
        latest_version: item.latest_version,
        published_version: item.published_version,
        has_unpublished_changes: item.status != "repealed"
            && item
                .published_version
                .is_some_and(|p| p < item.latest_version),
        title: c.title,
        description: c.description,
        legal_basis: c.legal_basis,
        subject_kinds: c.subject_kinds,
        fields: c.fields,
        implementing_department_ids: c.implementing_department_ids,
        linked_scope_item_ids: c.linked_scope_item_ids,
        severity: c.severity,
        publication_months_min: c.publication_months_min,
        publication_months_max: c.publication_months_max,
        repair_after_months: c.repair_after_months,
        repairable: c.repairable,
        repair_requires_training: c.repair_requires_training,
        repair_requires_credit_report: c.repair_requires_credit_report,
        publicly_disclosed: c.publicly_disclosed,
        repair_waiting_from: c.repair_waiting_from,
        objection_accept_days: c.objection_accept_days,
        objection_verify_days: c.objection_verify_days,
        validity_months: c.validity_months,
        origin: c.origin,
        legal_basis_sufficient,
        published_legal_basis_sufficient,
        created_at: item.created_at,
        updated_at: item.updated_at,
        published_at: item.published_at,
        repealed_at: item.repealed_at,
    })
}

/// The latest version's view.
pub fn latest_view(conn: &mut DbConnection, item: &ItemRow) -> Result<FourListItemView, ApiError> {
    let v = find_version(conn, item.id, item.latest_version)?
        .ok_or_else(|| ApiError::internal("item without its latest version"))?;
    view(conn, item, &v)
}

/// Checks content against the item's kind, fills tier defaults, and returns it normalised.
/// Every problem is reported at once, each naming its field.
pub fn validate_content(
    conn: &mut DbConnection,
    kind: ItemKind,
    item_id: Option<i32>,
    mut c: ItemContent,
) -> Result<ItemContent, ApiError> {
    let mut errors = Vec::new();
    c.title = crate::http::required_line(&mut errors, "title", &c.title, 200);
    c.description = crate::pii::mask_id_numbers(c.description.trim().to_string());
    if c.description.chars().count() > 5000 {
        errors.push(FieldError::new(
            "description",
            "too_long",
            "description must have at most 5000 characters",
        ));
    }
    if c.legal_basis.is_empty() {
        errors.push(FieldError::new(
            "legal_basis",
            "required",
            "at least one legal basis is required",
        ));
    }
    for (i, b) in c.legal_basis.iter_mut().enumerate() {
        b.document = crate::http::required_line(
            &mut errors,
            &format!("legal_basis[{i}].document"),
            &b.document,
            300,
        );
        b.article = b
            .article
            .as_ref()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        b.issuer = b
            .issuer
            .as_ref()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
    }
    if c.subject_kinds.is_empty() {
        errors.push(FieldError::new(
            "subject_kinds",
            "required",
            "name at least one subject kind",
        ));
    }
    c.subject_kinds.dedup();
    if kind.is_measure() {
        if c.fields.is_empty() {
            errors.push(FieldError::new(
                "fields",
                "required",
                "a measure applies in at least one field",
            ));
        }
        for (i, f) in c.fields.iter().enumerate() {
            let known: i64 = application_fields::table
                .filter(application_fields::code.eq(f))
                .filter(application_fields::active.eq(true))
                .count()
                .get_result(conn)?;
            if known == 0 {
                errors.push(FieldError::new(
                    format!("fields[{i}]"),
                    "unknown_field",
                    format!("there is no active field {f}"),
                ));
            }
        }
        for (i, d) in c.implementing_department_ids.iter().enumerate() {
            let known: i64 = departments::table
                .filter(departments::id.eq(d))
                .count()
                .get_result(conn)?;
            if known == 0 {
                errors.push(FieldError::new(
                    format!("implementing_department_ids[{i}]"),
                    "unknown_department",
                    format!("there is no department {d}"),
                ));
            }
        }
        let wanted = kind
            .scope_for_measure()
            .map(|k| k.as_str())
            .unwrap_or_default();
        for (i, s) in c.linked_scope_item_ids.iter().enumerate() {
            let field = format!("linked_scope_item_ids[{i}]");
            match find_item(conn, *s)? {
                None => errors.push(FieldError::new(
                    field,
                    "unknown_item",
                    format!("there is no item {s}"),
                )),
                Some(it) if it.kind != wanted => errors.push(FieldError::new(
                    field,
                    "wrong_kind",
                    format!(
                        "a {} item follows from {wanted} items, item {s} is {}",
                        kind.as_str(),
                        it.kind
                    ),
                )),
                Some(it) if it.status == "repealed" => errors.push(FieldError::new(
                    field,
                    "repealed",
                    format!("item {s} has been repealed"),
                )),
                Some(_) => {}
            }
        }
    } else {
        not_applicable(
            &mut errors,
            "measure items",
            &[
                ("fields", !c.fields.is_empty()),
                (
                    "implementing_department_ids",
                    !c.implementing_department_ids.is_empty(),
                ),
                ("linked_scope_item_ids", !c.linked_scope_item_ids.is_empty()),
            ],
        );
    }
    if item_id.is_some_and(|id| c.linked_scope_item_ids.contains(&id)) {
        errors.push(FieldError::new(
            "linked_scope_item_ids",
            "self_link",
            "an item cannot follow from itself",
        ));
    }
    c.fields.dedup();
    c.linked_scope_item_ids.sort_unstable();
    c.linked_scope_item_ids.dedup();
    match kind {
        ItemKind::BlackScope => match c.severity {
            None => errors.push(FieldError::new(
                "severity",
                "required",
                "a black-list scope item needs a severity tier",
            )),
            Some(sev) => {
                let d = sev.default_periods();
                let min = *c
                    .publication_months_min
                    .get_or_insert(d.publication_months_min);
                let max = *c
                    .publication_months_max
                    .get_or_insert(d.publication_months_max);
                let repairable = *c.repairable.get_or_insert(d.repairable);
                c.repair_requires_training.get_or_insert(false);
                c.repair_requires_credit_report.get_or_insert(false);
                c.repair_waiting_from
                    .get_or_insert(WaitingFrom::Determination);
                let public = *c.publicly_disclosed.get_or_insert(sev != Severity::Minor);
                if sev == Severity::Minor && public && max > MINOR_PUBLICATION_MONTHS_MAX {
                    errors.push(FieldError::new(
                        "publication_months_max",
                        "out_of_range",
                        format!(
                            "minor-tier information that is published at all is published for at most {MINOR_PUBLICATION_MONTHS_MAX} months"
                        ),
                    ));
                }
                if repairable {
                    c.repair_after_months = c
                        .repair_after_months
                        .or(d.repair_after_months)
                        .or(Some(min));
                } else {
                    c.repair_after_months = None;
                }
                if !(0..=120).contains(&min) {
                    errors.push(FieldError::new(
                        "publication_months_min",
                        "out_of_range",
                        "must be 0–120 months",
                    ));
                }
                if !(1..=120).contains(&max) || max < min {
                    errors.push(FieldError::new(
                        "publication_months_max",
                        "out_of_range",
                        "must be 1–120 months and not below publication_months_min",
                    ));
                }
                if let Some(r) = c.repair_after_months {
                    if !(0..=max).contains(&r) {
                        errors.push(FieldError::new(
                            "repair_after_months",
                            "out_of_range",
                            "must be between 0 and publication_months_max",
                        ));
                    }
                }
            }
        },
        _ => {
            not_applicable(
                &mut errors,
                "black_scope items",
                &[
                    ("severity", c.severity.is_some()),
                    ("publication_months_min", c.publication_months_min.is_some()),
                    ("publication_months_max", c.publication_months_max.is_some()),
                    ("repair_after_months", c.repair_after_months.is_some()),
                    ("repairable", c.repairable.is_some()),
                    (
                        "repair_requires_training",
                        c.repair_requires_training.is_some(),
                    ),
                    (
                        "repair_requires_credit_report",
                        c.repair_requires_credit_report.is_some(),
                    ),
                    ("publicly_disclosed", c.publicly_disclosed.is_some()),
                    ("repair_waiting_from", c.repair_waiting_from.is_some()),
                ],
            );
        }
    }
    if matches!(kind, ItemKind::RedScope | ItemKind::BlackScope) {
        let accept = *c
            .objection_accept_days
            .get_or_insert(DEFAULT_OBJECTION_ACCEPT_DAYS);
        let verify = *c
            .objection_verify_days
            .get_or_insert(DEFAULT_OBJECTION_VERIFY_DAYS);
        if !(1..=60).contains(&accept) {
            errors.push(FieldError::new(
                "objection_accept_days",
                "out_of_range",
                "must be 1–60 working days",
            ));
        }
        if !(1..=120).contains(&verify) || verify < accept {
            errors.push(FieldError::new(
                "objection_verify_days",
                "out_of_range",
                "must be 1–120 working days and not below objection_accept_days",
            ));
        }
    } else {
        not_applicable(
            &mut errors,
            "scope items",
            &[
                ("objection_accept_days", c.objection_accept_days.is_some()),
                ("objection_verify_days", c.objection_verify_days.is_some()),
                ("origin", c.origin.is_some()),
            ],
        );
    }
    if matches!(kind, ItemKind::RedScope | ItemKind::BlackScope) {
        // Unstated means set locally: the stricter reading, which a national list lifts by saying so.
        c.origin.get_or_insert(ItemOrigin::Local);
    }
    match (kind, c.validity_months) {
        (ItemKind::RedScope, None) => errors.push(FieldError::new(
            "validity_months",
            "required",
            "a red-list scope item needs validity_months",
        )),
        (ItemKind::RedScope, Some(m)) if !(1..=120).contains(&m) => errors.push(FieldError::new(
            "validity_months",
            "out_of_range",
            "must be 1–120 months",
        )),
        (ItemKind::RedScope, _) => {}
        (_, set) => not_applicable(
            &mut errors,
            "red_scope items",
            &[("validity_months", set.is_some())],
        ),
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(c)
}

/// A `not_applicable` error for each field that is set although it applies to `applies_to` only
/// (refused rather than silently dropped).
fn not_applicable(errors: &mut Vec<FieldError>, applies_to: &str, fields: &[(&str, bool)]) {
    for (name, set) in fields {
        if *set {
            errors.push(FieldError::new(
                *name,
                "not_applicable",
                format!("{name} applies to {applies_to} only"),
            ));
        }
    }
}

/// Working days to accept (受理) an objection, and to verify (核实) and answer it, when a scope
/// item's standard says nothing else: the practice DOMAIN.md describes. Each scope item stores its
/// own (`objection_accept_days`, `objection_verify_days`).
pub const DEFAULT_OBJECTION_ACCEPT_DAYS: i32 = 2;
pub const DEFAULT_OBJECTION_VERIFY_DAYS: i32 = 10;

pub fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}
