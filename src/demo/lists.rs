//! Demo four lists and red/black list entries for `serve --demo`: several departments' lists, a
//! few hundred entries across the counties with valid codes, national-level identifications,
//! removals and expiries, so every screen and report has something to show. Seeded once: a second
//! run finds the first item and does nothing.

use chrono::{Datelike, Duration, NaiveDate};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::auth::{AuthUser, RequestMeta, Role};
use crate::db::{self, DbConnection};
use crate::domain::{IdNumber, Uscc};
use crate::entries::store::{audit_entry, create_entry, publish_entry, NewEntry};
use crate::entries::{ListType, Source, StatementOutcome};
use crate::error::ApiError;
use crate::four_lists::store::NewItem;
use crate::four_lists::{ItemKind, ItemOrigin, LegalBasis, LegalBasisLevel, Severity, SubjectType};

use crate::schema::{
    four_list_items, list_entries, objections, special_rectification_items, users,
};
use crate::state::AppState;
use LegalBasisLevel::{
    AdministrativeRegulation as AdmReg, CentralPolicyDocument as Central,
    DepartmentalRule as DeptRule, Law, NormativeDocument as Normative,
};

/// A legal basis of a demo item: document, article, issuer, level.
type Basis = (
    &'static str,
    &'static str,
    &'static str,
    Option<LegalBasisLevel>,
);

const DEPT_BUREAU: i32 = 1; // 市政务服务和数字化局
const DEPT_COURT: i32 = 15; // 市中级人民法院
const DEPT_NDRC: i32 = 18; // 市发展和改革委员会
const DEPT_CIVIL: i32 = 25; // 市民政局
const DEPT_HOUSING: i32 = 30; // 市住房和城乡建设局
const DEPT_HRSS: i32 = 27; // 市人力资源和社会保障局
const DEPT_TRANSPORT: i32 = 32; // 市交通运输局
const DEPT_SCJG: i32 = 42; // 市市场监督管理局
const DEPT_TAX: i32 = 52; // 市税务局

/// County and district division codes used in generated codes.
const DIVISIONS: &[&str] = &[
    "220502", "220503", "220521", "220523", "220524", "220581", "220582",
];

struct ItemSpec {
    department: i32,
    kind: ItemKind,
    code: &'static str,
    title: &'static str,
    /// (document, article, issuer, level): the real levels of the documents, so that every
    /// punishment measure and local black list publishes (国办发〔2020〕49号 (五)(六)).
    basis: &'static [Basis],
    /// Scope items: the lists a national authority sets are `national`.
    origin: Option<ItemOrigin>,
    subjects: &'static [SubjectType],
    severity: Option<Severity>,
    fields: &'static [&'static str],
    /// Codes (same department) of the scope items a measure follows from.
    links: &'static [&'static str],
    /// Measures: the departments that apply them (实施单位), besides the item's own.
    implementing: &'static [i32],
    /// Scope items: the period their standard sets, in months (black: how long an entry is
    /// published; red: how long it is valid); `None`: the tier's default (red: 36 months).
    months: Option<i32>,
    /// Black scope items: the section 九 special-rectification category they are.
    special: Option<&'static str>,
}

use SubjectType::{Enterprise as E, Individual as I, OtherOrganisation as O};

const ITEMS: &[ItemSpec] = &[
    ItemSpec {
        department: DEPT_TAX,
        kind: ItemKind::RedScope,
        code: "SW-HONG-01",
        title: "纳税信用A级纳税人",
        basis: &[(
            "《纳税信用管理办法（试行）》",
            "第二十九条",
            "国家税务总局",
            Some(Normative),
        )],
        origin: Some(ItemOrigin::National),
        subjects: &[E],
        severity: None,
        fields: &[],
        links: &[],
        implementing: &[],
        // The credit rating is made every year: an A rating counts for the year it was given.
        months: Some(12),
        special: None,
    },
    ItemSpec {
        department: DEPT_TAX,
        kind: ItemKind::BlackScope,
        code: "SW-HEI-01",
        title: "重大税收违法失信主体",
        basis: &[(
            "《重大税收违法失信主体信息公布管理办法》",
            "第六条",
            "国家税务总局",
            Some(DeptRule),
        )],
        origin: Some(ItemOrigin::National),
        subjects: &[E, I],
        severity: Some(Severity::Serious),
        fields: &[],
        links: &[],
        implementing: &[],
        // Published for three years.
        months: Some(36),
        special: Some("major_tax_violation"),
    },
    ItemSpec {
        department: DEPT_TAX,
        kind: ItemKind::IncentiveMeasures,
        code: "SW-JL-01",
        title: "办税绿色通道和容缺办理",
        basis: &[(
            "《关于对纳税信用A级纳税人实施联合激励措施的合作备忘录》",
            "第二条",
            "国家发展改革委等",
            Some(Normative),
        )],
        origin: None,
        subjects: &[E],
        severity: None,
        fields: &["administrative_licensing", "supervision"],
        links: &["SW-HONG-01"],
        implementing: &[],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_TAX,
        kind: ItemKind::PunishmentMeasures,
        code: "SW-CJ-01",
        title: "限制参与政府采购和招标投标",
        basis: &[
            (
                "《关于对重大税收违法案件当事人实施联合惩戒措施的合作备忘录》",
                "第二条",
                "国家发展改革委等",
                Some(Normative),
            ),
            (
                "《中华人民共和国政府采购法》",
                "第二十二条",
                "全国人民代表大会常务委员会",
                Some(Law),
            ),
        ],
        origin: None,
        subjects: &[E, I],
        severity: None,
        fields: &["government_procurement", "bidding", "fiscal_funds"],
        links: &["SW-HEI-01"],
        implementing: &[],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_SCJG,
        kind: ItemKind::RedScope,
        code: "SJ-HONG-01",
        title: "守合同重信用企业",
        basis: &[(
            "《吉林省守合同重信用企业公示办法》",
            "第五条",
            "吉林省市场监督管理厅",
            Some(Normative),
        )],
        origin: Some(ItemOrigin::Local),
        subjects: &[E],
        severity: None,
        fields: &[],
        links: &[],
        implementing: &[],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_SCJG,
        kind: ItemKind::BlackScope,
        code: "SJ-HEI-01",
        title: "严重违法失信企业",
        basis: &[(
            "《市场监督管理严重违法失信名单管理办法》",
            "第九条",
            "国家市场监督管理总局",
            Some(DeptRule),
        )],
        origin: Some(ItemOrigin::National),
        // The standard lists enterprises: associations are not on it.
        subjects: &[E],
        severity: Some(Severity::Serious),
        fields: &[],
        links: &[],
        implementing: &[],
        // Removed after three years.
        months: Some(36),
        special: Some("serious_violation"),
    },
    ItemSpec {
        department: DEPT_SCJG,
        kind: ItemKind::BlackScope,
        code: "SJ-HEI-02",
        title: "经营异常名录（未按期公示年报）",
        basis: &[(
            "《企业经营异常名录管理暂行办法》",
            "第四条",
            "国家工商行政管理总局",
            Some(DeptRule),
        )],
        origin: Some(ItemOrigin::National),
        subjects: &[E],
        severity: Some(Severity::General),
        fields: &[],
        links: &[],
        implementing: &[],
        // At most three years on the list (then the serious list).
        months: Some(36),
        special: Some("abnormal_operation"),
    },
    ItemSpec {
        department: DEPT_SCJG,
        kind: ItemKind::PunishmentMeasures,
        code: "SJ-CJ-01",
        title: "列为重点监管对象，提高抽查比例和频次",
        basis: &[(
            "《市场监督管理严重违法失信名单管理办法》",
            "第十四条",
            "国家市场监督管理总局",
            Some(DeptRule),
        )],
        origin: None,
        subjects: &[E],
        severity: None,
        fields: &["supervision", "market_access"],
        links: &["SJ-HEI-01", "SJ-HEI-02"],
        implementing: &[],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_COURT,
        kind: ItemKind::BlackScope,
        code: "FY-HEI-01",
        title: "失信被执行人",
        basis: &[
            // A judicial interpretation (司法解释) has none of the seven levels: left unstated.
            (
                "《最高人民法院关于公布失信被执行人名单信息的若干规定》",
                "第一条",
                "最高人民法院",
                None,
            ),
            (
                "《中华人民共和国民事诉讼法》",
                "第二百六十六条",
                "全国人民代表大会",
                Some(Law),
            ),
        ],
        origin: Some(ItemOrigin::National),
        subjects: &[E, I, O],
        severity: Some(Severity::Serious),
        fields: &[],
        links: &[],
        implementing: &[],
        // 若干规定 第二条: two years (the court may extend it by one to three years).
        months: Some(24),
        special: Some("judgment_defaulter"),
    },
    ItemSpec {
        department: DEPT_COURT,
        kind: ItemKind::PunishmentMeasures,
        code: "FY-CJ-01",
        title: "限制高消费及有关消费，限制担任国有企业高管",
        basis: &[
            (
                "《关于对失信被执行人实施联合惩戒的合作备忘录》（发改财金〔2016〕141号）",
                "二、惩戒措施及实施单位",
                "国家发展改革委、最高人民法院等",
                Some(Normative),
            ),
            (
                "《关于加快推进失信被执行人信用监督、警示和惩戒机制建设的意见》",
                "二、加强联合惩戒",
                "中共中央办公厅、国务院办公厅",
                Some(Central),
            ),
        ],
        origin: None,
        subjects: &[E, I, O],
        severity: None,
        fields: &["public_recruitment", "honours", "fiscal_funds"],
        links: &["FY-HEI-01"],
        implementing: &[],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_COURT,
        kind: ItemKind::PunishmentMeasures,
        code: "FY-CJ-02",
        title: "从严审核行政许可审批项目，限制新增项目审批核准",
        basis: &[
            (
                "《关于对失信被执行人实施联合惩戒的合作备忘录》（发改财金〔2016〕141号）",
                "二、惩戒措施及实施单位",
                "国家发展改革委、最高人民法院等",
                Some(Normative),
            ),
            (
                "《关于加快推进失信被执行人信用监督、警示和惩戒机制建设的意见》",
                "二、加强联合惩戒",
                "中共中央办公厅、国务院办公厅",
                Some(Central),
            ),
        ],
        origin: None,
        subjects: &[E, O],
        severity: None,
        fields: &["administrative_licensing", "project_approval"],
        links: &["FY-HEI-01"],
        implementing: &[DEPT_BUREAU, DEPT_NDRC],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_COURT,
        kind: ItemKind::PunishmentMeasures,
        code: "FY-CJ-03",
        title: "对房地产、建筑企业资质作出限制",
        basis: &[(
            "《关于加快推进失信被执行人信用监督、警示和惩戒机制建设的意见》",
            "二、加强联合惩戒",
            "中共中央办公厅、国务院办公厅",
            Some(Central),
        )],
        origin: None,
        subjects: &[E],
        severity: None,
        fields: &["qualification_accreditation"],
        links: &["FY-HEI-01"],
        implementing: &[DEPT_HOUSING],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_HRSS,
        kind: ItemKind::BlackScope,
        code: "RS-HEI-01",
        title: "拖欠农民工工资失信联合惩戒对象",
        basis: &[(
            "《拖欠农民工工资失信联合惩戒对象名单管理暂行办法》（人社部令第45号）",
            "第五条",
            "人力资源社会保障部",
            Some(DeptRule),
        )],
        origin: Some(ItemOrigin::National),
        subjects: &[E, I],
        severity: Some(Severity::General),
        fields: &[],
        links: &[],
        implementing: &[],
        months: None, // with_own_standard: three years
        special: None,
    },
    ItemSpec {
        department: DEPT_HRSS,
        kind: ItemKind::PunishmentMeasures,
        code: "RS-CJ-01",
        title: "限制享受财政补贴和评优评先",
        basis: &[(
            "《保障农民工工资支付条例》",
            "第四十八条",
            "国务院",
            Some(AdmReg),
        )],
        origin: None,
        subjects: &[E, I],
        severity: None,
        fields: &["fiscal_funds", "honours"],
        links: &["RS-HEI-01"],
        implementing: &[],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_TRANSPORT,
        kind: ItemKind::RedScope,
        code: "JT-HONG-01",
        title: "交通运输守信激励对象（AA级信用企业）",
        basis: &[(
            "《交通运输守信联合激励和失信联合惩戒对象名单管理办法（试行）》",
            "第七条",
            "交通运输部",
            Some(Normative),
        )],
        origin: Some(ItemOrigin::National),
        subjects: &[E],
        severity: None,
        fields: &[],
        links: &[],
        implementing: &[],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_TRANSPORT,
        kind: ItemKind::IncentiveMeasures,
        code: "JT-JL-01",
        title: "行政审批优先办理",
        basis: &[(
            "《交通运输守信联合激励和失信联合惩戒对象名单管理办法（试行）》",
            "第十五条",
            "交通运输部",
            Some(Normative),
        )],
        origin: None,
        subjects: &[E],
        severity: None,
        fields: &["administrative_licensing"],
        links: &["JT-HONG-01"],
        implementing: &[],
        months: None,
        special: None,
    },
    ItemSpec {
        department: DEPT_CIVIL,
        kind: ItemKind::BlackScope,
        code: "MZ-HEI-01",
        title: "社会组织严重违法失信名单",
        basis: &[(
            "《社会组织信用信息管理办法》（民政部令第60号）",
            "",
            "民政部",
            Some(DeptRule),
        )],
        origin: Some(ItemOrigin::National),
        // Social organisations registered by civil affairs (codes 5…), nobody else.
        subjects: &[O],
        severity: Some(Severity::Serious),
        fields: &[],
        links: &[],
        implementing: &[],
        // Removed after two years on the list.
        months: Some(24),
        special: None,
    },
];

/// The division a name begins with (企业名称 = 行政区划 + 字号 + 行业 + 组织形式): the division of
/// the subject's code.
fn division_name(division: &str) -> &'static str {
    match division {
        "220502" => "通化市东昌区",
        "220503" => "通化市二道江区",
        "220521" => "通化县",
        "220523" => "辉南县",
        "220524" => "柳河县",
        "220581" => "梅河口市",
        "220582" => "集安市",
        _ => "通化市",
    }
}
/// Trade names (字号).
const TRADE_NAMES: &[&str] = &[
    "鑫源",
    "宏达",
    "盛华",
    "金诚",
    "恒泰",
    "兴隆",
    "华康",
    "顺发",
    "永信",
    "长青",
    "佟佳江",
    "鸭绿江",
];
const NAME_MIDS: &[&str] = &[
    "葡萄酒",
    "医药",
    "建材",
    "商贸",
    "物流",
    "食品",
    "矿业",
    "木业",
    "钢铁",
    "农业科技",
    "人参",
    "汽车运输",
];
/// Social organisations (社会团体) registered by civil affairs.
const ASSOCIATIONS: &[&str] = &[
    "人参产业协会",
    "个体劳动者协会",
    "葡萄酒行业协会",
    "物流协会",
    "建筑业协会",
    "中药材种植协会",
];
const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳",
];

pub fn demo_admin(conn: &mut DbConnection) -> Result<AuthUser, ApiError> {
    let id: i32 = users::table
        .filter(users::username.eq("demo-admin"))
        .select(users::id)
        .first(conn)?;
    Ok(AuthUser {
        id,
        username: "demo-admin".into(),
        role: Role::Admin,
        department_id: None,
        region_code: None,
        session_id: "demo-seed".into(),
        meta: RequestMeta::default(),
    })
}

/// A valid code: registering authority and type (`91` an enterprise, `51` a social
/// organisation), the division, an organisation code beginning with `head`.
fn uscc(rng: &mut StdRng, authority: &str, division: &str, head: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let tail: String = (0..7)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    Uscc::with_check_character(&format!("{authority}{division}{head}{tail}"))
        .map(|u| u.as_str().to_string())
        .unwrap_or_default()
}

fn id_number(rng: &mut StdRng, division: &str) -> String {
    loop {
        let birth = NaiveDate::from_ymd_opt(
            rng.gen_range(1955..2000),
            rng.gen_range(1..13),
            rng.gen_range(1..29),
        );
        let Some(birth) = birth else { continue };
        let prefix = format!(
            "{division}{}{:03}",
            birth.format("%Y%m%d"),
            rng.gen_range(0..1000)
        );
        if let Some(id) = IdNumber::with_check_character(&prefix) {
            return id.as_str().to_string();
        }
    }
}

fn person(rng: &mut StdRng) -> String {
    format!(
        "{}{}{}",
        SURNAMES[rng.gen_range(0..SURNAMES.len())],
        GIVEN[rng.gen_range(0..GIVEN.len())],
        GIVEN[rng.gen_range(0..GIVEN.len())]
    )
}

/// One generated entry of the demo (valid codes of `division`, a name beginning with that
/// division, a document number in the identifying department's style, facts of its scope item).
fn demo_entry(
    rng: &mut StdRng,
    n: u32,
    (scope, scope_code, list_type, department, kind): (i32, &str, ListType, i32, SubjectType),
    division: &str,
    determination: NaiveDate,
) -> NewEntry {
    let (code, name, rep) = match kind {
        I => {
            let name = person(rng);
            (id_number(rng, division), name, None)
        }
        // Social organisations: registered by civil affairs (登记管理机关 5, 社会团体 1).
        O => {
            let name = format!(
                "{}{}",
                division_name(division),
                ASSOCIATIONS[rng.gen_range(0..ASSOCIATIONS.len())]
            );
            (uscc(rng, "51", division, "MJ"), name, Some(person(rng)))
        }
        _ => {
            let name = format!(
                "{}{}{}有限公司",
                division_name(division),
                TRADE_NAMES[rng.gen_range(0..TRADE_NAMES.len())],
                NAME_MIDS[rng.gen_range(0..NAME_MIDS.len())],
            );
            (uscc(rng, "91", division, "MA"), name, Some(person(rng)))
        }
    };
    let national = department == DEPT_COURT;
    let year = determination.format("%Y");
    let number = n + 1;
    // Each department's style of document number; the courts' 案号 name the court that enforces
    // (吉05 the intermediate court, 吉05xx the basic court of the county or district).
    let document_number = match scope_code {
        // One in five enforced by the intermediate court itself, the others by the county's court.
        "FY-HEI-01" if n.is_multiple_of(5) => format!("（{year}）吉05执{number}号"),
        "FY-HEI-01" => format!("（{year}）吉05{}执{number}号", &division[4..]),
        "SW-HEI-01" => format!("通税稽罚〔{year}〕{number}号"),
        "SW-HONG-01" => format!("通税信评〔{year}〕{number}号"),
        "SJ-HEI-01" => format!("通市监严失〔{year}〕{number}号"),
        "SJ-HEI-02" => format!("通市监异〔{year}〕{number}号"),
        "SJ-HONG-01" => format!("通市监合〔{year}〕{number}号"),
        "RS-HEI-01" => format!("通人社欠薪认〔{year}〕{number}号"),
        "JT-HONG-01" => format!("通交运信〔{year}〕{number}号"),
        "MZ-HEI-01" => format!("通民社严〔{year}〕{number}号"),
        _ => format!("通信认〔{year}〕{number}号"),
    };
    let last_year = determination.year() - 1;
    let amount = rng.gen_range(12..480);
    let facts = match scope_code {
        "FY-HEI-01" => format!(
            "有履行能力而拒不履行生效法律文书确定的给付义务，执行标的{amount}万元，经本院决定纳入失信被执行人名单"
        ),
        "SW-HEI-01" => format!(
            "经税务稽查查实，采取虚假纳税申报手段少缴税款{}万元，且占各税种应纳税总额10%以上，依法确定为重大税收违法失信主体",
            amount + 100
        ),
        "SW-HONG-01" => format!("{last_year}年度纳税信用评价为A级"),
        "SJ-HEI-01" => "生产销售不符合保障人身健康和生命安全标准的产品，受到较重行政处罚，依法列入严重违法失信名单".into(),
        "SJ-HEI-02" => format!("未按照规定期限公示{last_year}年度报告，列入经营异常名录"),
        "SJ-HONG-01" => "连续两年合同履约率100%，无违法违规记录，经公示为守合同重信用企业".into(),
        "RS-HEI-01" => format!(
            "拖欠{}名农民工工资合计{amount}万元，经责令限期支付逾期未支付",
            rng.gen_range(12..90)
        ),
        "JT-HONG-01" => format!("{last_year}年度道路运输企业质量信誉考核为AA级"),
        "MZ-HEI-01" => "被列入活动异常名录满2年，仍未履行年度报告等义务".into(),
        _ if list_type == ListType::Red => "连续三年无违法违规记录，依法诚信经营".into(),
        _ => "经查实存在严重失信行为，依法认定".into(),
    };
    NewEntry {
        list_type,
        subject_code: code,
        subject_kind: Some(kind),
        subject_name: name,
        legal_representative: rep,
        legal_representative_id: None,
        region_code: None,
        department_id: Some(department),
        scope_item_id: scope,
        document_number,
        determination_date: determination,
        valid_from: None,
        valid_until: None,
        facts,
        internal_note: None,
        source: if national {
            Source::National
        } else {
            Source::Local
        },
        // Local black entries: the subject was notified (告知) one to three weeks before the
        // determination; most made no statement (陈述申辩), some did and were not heard.
        notice_date: (list_type == ListType::Black && !national)
            .then(|| determination - Duration::days(7 + i64::from(n % 15))),
        statement_outcome: (list_type == ListType::Black && !national).then_some(if n % 5 == 2 {
            StatementOutcome::NotAdopted
        } else {
            StatementOutcome::NoneReceived
        }),
        acknowledge_invalid_checksum: false,
    }
}

/// The list coverage (local entries in force ÷ national identifications, in per cent) the demo
/// aims at per county, so that the year-end targets read like a real year: some counties meet the
/// 50% goal and some do not. `true`: the county's national figure is a declared count
/// (国家层面认定申报数) rather than itemised national entries.
const DEMO_COVERAGE: &[(&str, i64, bool)] = &[
    ("220502", 70, false),
    ("220503", 38, false),
    ("220521", 55, true),
    ("220523", 44, false),
    ("220524", 80, false),
    ("220581", 52, false),
    ("220582", 30, false),
];

fn declared_division(division: &str) -> bool {
    DEMO_COVERAGE
        .iter()
        .any(|(d, _, declared)| *d == division && *declared)
}

/// Adds national-level identifications (the court's 失信被执行人, itemised) or a declared national
/// count per county until each county's coverage is the one [`DEMO_COVERAGE`] aims at.
fn balance_national(
    conn: &mut DbConnection,
    state: &AppState,
    admin: &AuthUser,
    rng: &mut StdRng,
    court_scope: i32,
    lookups: &mut crate::entries::Lookups,
) -> Result<(), ApiError> {
    let today = crate::entries::today();
    let counts: Vec<(String, String, i64)> = list_entries::table
        .filter(crate::entries::in_force_sql(today))
        .group_by((list_entries::region_code, list_entries::source))
        .select((
            list_entries::region_code,
            list_entries::source,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let count = |region: &str, source: &str| {
        counts
            .iter()
            .find(|(r, s, _)| r == region && s == source)
            .map_or(0, |c| c.2)
    };
    let mut n = 10_000u32;
    for &(region, pct, declared) in DEMO_COVERAGE {
        let local = count(region, "local");
        let wanted = (local * 100 + pct - 1) / pct;
        if declared {
            crate::baselines::store::declare_in(
                conn,
                admin,
                region,
                chrono::Datelike::year(&today),
                "black",
                wanted as i32,
                "演示数据：信用中国（吉林）国家层面认定数",
            )?;
            continue;
        }
        for _ in count(region, "national")..wanted {
            n += 1;
            let kind = if n.is_multiple_of(4) { I } else { E };
            let determination = today - Duration::days(rng.gen_range(20..400));
            let input = demo_entry(
                rng,
                n,
                (court_scope, "FY-HEI-01", ListType::Black, DEPT_COURT, kind),
                region,
                determination,
            );
            let row = create_entry(conn, state, admin, input, lookups)?;
            audit_entry(conn, state, admin, "list_entry.create", None, &row)?;
            publish_entry(conn, state, admin, row)?;
        }
    }
    Ok(())
}

pub fn seed(conn: &mut DbConnection, state: &AppState) -> Result<bool, ApiError> {
    let exists: i64 = four_list_items::table
        .filter(four_list_items::department_id.eq(DEPT_TAX))
        .filter(four_list_items::code.eq("SW-HONG-01"))
        .count()
        .get_result(conn)?;
    let admin = demo_admin(conn)?;
    if exists > 0 {
        // Lists seeded by an earlier version: add what came later (idempotent).
        db::write_tx(conn, |conn| crate::demo::repair::seed(conn, state, &admin))?;
        return Ok(false);
    }
    db::write_tx(conn, |conn| seed_all(conn, state, &admin))?;
    Ok(true)
}

/// The periods of a demo item whose real standard differs from its tier's national defaults.
/// 人社部令第45号 (拖欠农民工工资失信联合惩戒对象名单管理暂行办法): a three-year list, left early six
/// months after the correction, with a commitment: the waiting period counts from the correction.
fn with_own_standard(code: &str, mut item: NewItem) -> NewItem {
    if code == "RS-HEI-01" {
        item.publication_months_min = Some(36);
        item.publication_months_max = Some(36);
        item.repair_after_months = Some(6);
        item.repair_waiting_from = Some(crate::four_lists::WaitingFrom::Correction);
    }
    item
}

fn seed_all(conn: &mut DbConnection, state: &AppState, admin: &AuthUser) -> Result<(), ApiError> {
    let mut rng = StdRng::seed_from_u64(2019);
    let today = crate::entries::today();
    // Items, created and published in order so links find their scopes.
    let mut ids = std::collections::HashMap::new();
    for spec in ITEMS {
        let links = spec
            .links
            .iter()
            .filter_map(|c| ids.get(*c).copied())
            .collect();
        let item = NewItem {
            department_id: Some(spec.department),
            kind: spec.kind,
            code: spec.code.into(),
            title: spec.title.into(),
            description: String::new(),
            legal_basis: spec
                .basis
                .iter()
                .map(|&(document, article, issuer, level)| LegalBasis {
                    document: document.into(),
                    article: (!article.is_empty()).then(|| article.into()),
                    issuer: Some(issuer.into()),
                    level,
                })
                .collect(),
            subject_kinds: spec.subjects.to_vec(),
            fields: spec.fields.iter().map(|f| f.to_string()).collect(),
            implementing_department_ids: spec.implementing.to_vec(),
            linked_scope_item_ids: links,
            severity: spec.severity,
            publication_months_min: None,
            publication_months_max: spec.months.filter(|_| spec.kind == ItemKind::BlackScope),
            repair_after_months: None,
            repairable: None,
            repair_requires_training: None,
            repair_requires_credit_report: None,
            publicly_disclosed: None,
            repair_waiting_from: None,
            objection_accept_days: None,
            objection_verify_days: None,
            validity_months: (spec.kind == ItemKind::RedScope).then_some(spec.months.unwrap_or(36)),
            origin: spec.origin,
        };
        let item = with_own_standard(spec.code, item);
        let id = crate::four_lists::store::create_and_publish(conn, admin, item)?;
        ids.insert(spec.code, id);
    }
    let mut lookups = crate::entries::Lookups::default();
    let scopes: Vec<(i32, &str, ListType, i32, &[SubjectType])> = ITEMS
        .iter()
        .filter(|s| matches!(s.kind, ItemKind::RedScope | ItemKind::BlackScope))
        .map(|s| {
            let t = if s.kind == ItemKind::RedScope {
                ListType::Red
            } else {
                ListType::Black
            };
            (ids[s.code], s.code, t, s.department, s.subjects)
        })
        .collect();
    for n in 0..320u32 {
        let (scope, scope_code, list_type, department, kinds) =
            scopes[rng.gen_range(0..scopes.len())];
        let kind = kinds[rng.gen_range(0..kinds.len())];
        let division = DIVISIONS[rng.gen_range(0..DIVISIONS.len())];
        let national = department == DEPT_COURT;
        // The county with a declared national count has no itemised national entries.
        let division = if national && declared_division(division) {
            DIVISIONS[0]
        } else {
            division
        };
        let days_ago = rng.gen_range(1..720);
        let determination = today - Duration::days(days_ago);
        let input = demo_entry(
            &mut rng,
            n,
            (scope, scope_code, list_type, department, kind),
            division,
            determination,
        );
        let row = create_entry(conn, state, admin, input, &mut lookups)?;
        audit_entry(conn, state, admin, "list_entry.create", None, &row)?;
        if n % 10 == 9 {
            continue; // a few drafts stay drafts
        }
        let row = publish_entry(conn, state, admin, row)?;
        if n % 23 == 5 && row.list_type == "black" && crate::entries::in_force_on(&row, today) {
            // An open objection (异议), received a few days ago, with its working-day deadlines.
            let received = today - Duration::days(rng.gen_range(0..15));
            let now = db::now();
            diesel::insert_into(objections::table)
                .values((
                    objections::entry_id.eq(row.id),
                    objections::raised_by.eq(format!("{}（委托代理人）", row.subject_name)),
                    objections::grounds.eq("认为认定事实不清，申请复核"),
                    objections::received_date.eq(received),
                    objections::accept_deadline.eq(crate::calendar::deadline(conn, received, 2)?),
                    objections::verify_deadline.eq(crate::calendar::deadline(conn, received, 10)?),
                    objections::status.eq("open"),
                    objections::created_by.eq(admin.id),
                    objections::created_at.eq(now),
                ))
                .execute(conn)?;
            diesel::update(list_entries::table.find(row.id))
                .set(list_entries::objection_open.eq(true))
                .execute(conn)?;
            let after = crate::entries::find_entry(conn, row.id)?
                .ok_or_else(|| ApiError::internal("entry vanished"))?;
            audit_entry(
                conn,
                state,
                admin,
                "list_entry.objection_open",
                Some(&row),
                &after,
            )?;
            continue;
        }
        if n % 17 == 0 && row.list_type == "black" {
            let now = db::now();
            diesel::update(list_entries::table.find(row.id))
                .set((
                    list_entries::status.eq("removed"),
                    list_entries::removal_reason.eq("revoked"),
                    list_entries::removal_date
                        .eq(today - Duration::days(rng.gen_range(0..days_ago.min(30)))),
                    list_entries::removal_note.eq("行政复议撤销原认定决定"),
                    list_entries::removed_at.eq(now),
                    list_entries::updated_at.eq(now),
                ))
                .execute(conn)?;
            let after = crate::entries::find_entry(conn, row.id)?
                .ok_or_else(|| ApiError::internal("entry vanished"))?;
            audit_entry(conn, state, admin, "list_entry.remove", Some(&row), &after)?;
        }
    }
    balance_national(conn, state, admin, &mut rng, ids["FY-HEI-01"], &mut lookups)?;
    // The four categories of section 九 (失信被执行人, 重大税收违法案件当事人, 企业异常名录, 严重违法
    // 企业名单), each marked on the scope item that lists them.
    for spec in ITEMS {
        let Some(category) = spec.special else {
            continue;
        };
        diesel::insert_into(special_rectification_items::table)
            .values((
                special_rectification_items::item_id.eq(ids[spec.code]),
                special_rectification_items::category.eq(category),
                special_rectification_items::set_by.eq(admin.id),
                special_rectification_items::set_at.eq(db::now()),
            ))
            .execute(conn)?;
    }
    crate::demo::repair::seed(conn, state, admin)
}
