//! The evaluation table of the 2019 plan (附件2, 市直相关部门社会信用体系建设工作评估指标) as data:
//! every scored item, its first-level indicator, its wording, its points and how it is proven.
//! `docs/scorecards.md` is the same table in prose.

use serde::Serialize;
use utoipa::ToSchema;

/// How an indicator is proven.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// Computed from the service's records.
    Records(Rule),
    /// Attested by a bureau; `evidence_hint` says what evidence counts.
    Attestation { evidence_hint: &'static str },
}

/// The record rules (see `docs/scorecards.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    FourListsCompiled,
    FourListsPublic,
    ListsBuilt,
    ListsPublished,
    ListsShared,
    Cases,
    MediaReportedCases,
    RepairsWithCommitments,
    CommitmentTemplate,
    CreditChecks,
    PreLicensingCommitments,
    SpecialRectificationCleared,
    MediaCasePublicity,
}

#[derive(Debug, Clone, Copy)]
pub struct Indicator {
    pub key: &'static str,
    pub group: &'static str,
    pub title: &'static str,
    /// The most it gives, in tenths of a point.
    pub max_tenths: i64,
    pub source: Source,
    /// The bonus (附加分): not part of the 100 points.
    pub bonus: bool,
}

const G1: &str = "保障机制和制度规范（14分）";
const G2: &str = "信用信息数据共享应用（16分）";
const G3: &str = "守信联合激励和失信联合惩戒（20分）";
const G4: &str = "双公示（10分）";
const G5: &str = "行政管理事项中应用信用产品（10分）";
const G6: &str = "政务诚信建设（5分）";
const G7: &str = "重点领域专项治理（5分）";
const G8: &str = "信用教育宣传（10分）";
const G9: &str = "及时落实市社会信用体系建设联席会议办公室任务（10分）";
const G10: &str = "附加分（最高10分）";

const fn rec(
    key: &'static str,
    group: &'static str,
    title: &'static str,
    max_tenths: i64,
    rule: Rule,
) -> Indicator {
    Indicator {
        key,
        group,
        title,
        max_tenths,
        source: Source::Records(rule),
        bonus: false,
    }
}

const fn att(
    key: &'static str,
    group: &'static str,
    title: &'static str,
    max_tenths: i64,
    evidence_hint: &'static str,
) -> Indicator {
    Indicator {
        key,
        group,
        title,
        max_tenths,
        source: Source::Attestation { evidence_hint },
        bonus: false,
    }
}

/// The table, in its order. Points add up to 100, plus 10 bonus points.
pub const INDICATORS: &[Indicator] = &[
    att("org_responsible", G1, "组织保障：设立业务责任处室并明确责任人，及时向政务服务和数字化建设管理局备案", 10,
        "the document setting up the responsible office and naming the person in charge, and its filing with the bureau"),
    att("credit_policies", G1, "机制建设：制定本行业信用建设相关政策，每出台一个得1分，最高得2分", 20,
        "the credit-building policy documents the department issued (1 point each, at most 2)"),
    att("work_mechanism", G1, "机制建设：明确推进本部门信用建设具体办法，并制定本行业社会信用体系建设监督考核机制", 10,
        "the department's implementation measures and its supervision and assessment mechanism"),
    att("recording_rules", G1, "制度规范：制定本部门在履行部门职责过程中记录市场主体相关信用信息的规范和制度", 10,
        "the rules for recording market subjects' credit information in the department's work"),
    rec("four_lists_compiled", G1, "制度规范：制定和完善本部门“诚信典型范围清单”“严重失信行为及主体范围清单”“守信激励政策措施清单”和“失信惩戒政策措施清单”", 60,
        Rule::FourListsCompiled),
    rec("four_lists_public", G1, "制度规范：对外公开信用4张清单", 10, Rule::FourListsPublic),
    att("classified_supervision", G1, "信用分类监管制度：结合本部门职责和工作实际，应用信用记录或由具有资质的信用服务机构出具信用报告，建立信用分类监管制度", 20,
        "the classified-supervision rules using credit records or qualified credit reports"),
    att("provincial_sharing", G2, "信用信息共享：依据《吉林省公共数据和一网通办管理办法（试行）》，与省社会信用综合服务平台共享信用信息数据", 120,
        "the provincial platform's record of the department's data sharing"),
    att("data_coverage", G2, "数据覆盖率：整合本部门本行业全量信用信息", 20,
        "the inventory of the department's credit information and its integration"),
    att("data_complete", G2, "数据质量：各部门在行政管理事项中产生的信用信息数据无缺项、漏项", 10,
        "the city platform's data-quality check of the department's data (no missing items)"),
    att("data_timely", G2, "数据质量：按照市社会信用综合服务平台按规定时间内更新数据", 10,
        "the city platform's record of on-time updates"),
    rec("lists_built", G3, "依据信用“四张清单”，建立本部门本行业红黑名单", 40, Rule::ListsBuilt),
    rec("lists_published", G3, "在本行业本部门网站对外公开本行业本部门红黑名单", 20, Rule::ListsPublished),
    rec("lists_shared", G3, "与市社会信用综合服务平台共享红黑名单信息", 40, Rule::ListsShared),
    rec("cases", G3, "实施守信联合激励或失信联合惩戒制度，并形成联合奖惩典型案例的，每个案例0.5分，最高2分", 20, Rule::Cases),
    rec("media_reported_cases", G3, "组织实施联合奖惩措施，被市级以上主流媒体公开报道的，每个案例得1分，最高不超过2分", 20,
        Rule::MediaReportedCases),
    rec("repairs_with_commitments", G3, "对被列入黑名单的企业进行信用修复，做出信用承诺，并报市政务服务和数字化局备案", 40,
        Rule::RepairsWithCommitments),
    rec("commitment_template", G3, "各部门制定标准化的信用承诺书并公示", 20, Rule::CommitmentTemplate),
    att("double_publicity_account", G4, "在“信用吉林”申请“双公示”账号，并在本部门门户网站设立信用专栏", 20,
        "the 双公示 account and the credit column on the department's portal"),
    att("double_publicity_shared", G4, "在本部门门户网站公示“双公示”信息，并通过政务外网与市社会信用综合服务平台共享", 60,
        "the 双公示 publication on the portal and its sharing with the city platform"),
    att("double_publicity_within_7_days", G4, "行政许可和行政处罚信息数据，7天内全量对外公示，并与市信用信息数据交换平台共享", 20,
        "the record that licensing and penalty data were published in full within 7 days"),
    rec("credit_records_in_approvals", G5, "信用产品应用：本部门（含下属机构）在行政审批事项中应用信用信息记录和数据", 30,
        Rule::CreditChecks),
    att("third_party_credit_reports", G5, "信用产品应用：本部门（含下属机构）在行政审批事项中将具有资质第三方信用机构提供的信用报告作为参考依据", 30,
        "approval files that used a qualified third-party credit report"),
    rec("commitment_template_public", G5, "信用承诺：制定本行业标准格式的信用承诺书，并在本部门网站对外公示", 10,
        Rule::CommitmentTemplate),
    rec("commitment_before_licensing", G5, "信用承诺：在行政许可前，签署承诺书", 10, Rule::PreLicensingCommitments),
    att("credit_products_unitemised", G5, "行政管理事项中应用信用产品：一级指标10分，表列细则合计8分，其余2分表中未列评分细则", 20,
        "the bureau's assessment under this first-level indicator beyond the listed items (the table lists no rule for these 2 points)"),
    att("civil_servant_education", G6, "开展公务员职业道德、法律知识和信用知识教育", 10,
        "the training notice, attendance list or materials of the civil servants' ethics, law and credit education"),
    att("public_service_commitment", G6, "以规范格式针对本部门职权范围内行政事项以及行政服务质量、期限和保障，向社会做出公开承诺，将信用承诺纳入政务服务记录", 20,
        "the published public-service commitment and its inclusion in the service records"),
    att("government_credit_files", G6, "结合部门和行业实际，在政府采购、政府和社会资本合作、招标投标等领域建立政务主体信用档案，完善信息公开制度，强化守信激励和失信惩戒机制", 20,
        "the government-body credit files in procurement, PPP or bidding"),
    att("special_rectification_campaign", G7, "全面推进政府机构失信和吉林省文明委《关于集中治理诚信缺失突出问题提升全社会诚信水平的实施方案》要求的20个重点领域开展失信问题专项治理", 20,
        "the special-rectification work plan and its report"),
    rec("special_rectification_cleanup", G7, "对被列入失信被执行人、重大税收违法案件当事人、企业异常名录的重点领域失信对象逐一案件进行核实、清理", 30,
        Rule::SpecialRectificationCleared),
    att("integrity_education", G8, "各部门开展诚信宣传教育活动", 30,
        "the notice, photos or report of an integrity-education activity"),
    att("industry_publicity", G8, "在报纸、网站等开展行业信用建设宣传报道", 20,
        "the newspaper or website reports on the sector's credit building"),
    rec("media_case_publicity", G8, "通过市级以上媒体宣传报道联合奖惩典型案例", 20, Rule::MediaCasePublicity),
    att("news_adopted", G8, "定期向“信用通化”网站报送新闻，被采用一份加0.2分，最高3分", 30,
        "the 信用通化 website's list of the department's adopted news items (0.2 points each, at most 3)"),
    att("materials_reported", G9, "及时向市社会信用体系建设联席会议办公室上报有关材料（逾期上报的扣1分/次，不报的扣2分/次）", 50,
        "the joint-meeting office's register of materials due and received (5 points, less 1 per late and 2 per missing report)"),
    att("tasks_completed", G9, "对市社会信用体系建设联席会议办公室交办、转办的事项处理及时完成（不及时的扣1分，未按要求处理的扣2分）", 50,
        "the joint-meeting office's register of assigned tasks and their completion (5 points, less 1 per late and 2 per unsatisfactory task)"),
    Indicator {
        key: "innovation_bonus",
        group: G10,
        title: "探索创新和突出贡献：在社会信用体系建设中创新探索，成效明显，形成部门特色和可推广复制经验，或为全市社会信用体系建设作出突出贡献的，酌情加分，最高加10分",
        max_tenths: 100,
        source: Source::Attestation {
            evidence_hint: "the bureau's finding of an innovation or outstanding contribution",
        },
        bonus: true,
    },
];

/// One indicator as the API describes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorView {
    pub key: &'static str,
    pub group: &'static str,
    pub title: &'static str,
    pub max_points: f64,
    /// `records` or `attestation`.
    pub source: &'static str,
    pub bonus: bool,
    /// For attestation indicators: what evidence counts.
    pub evidence_hint: Option<&'static str>,
}

impl IndicatorView {
    pub fn of(i: &Indicator) -> Self {
        IndicatorView {
            key: i.key,
            group: i.group,
            title: i.title,
            max_points: i.max_tenths as f64 / 10.0,
            source: match i.source {
                Source::Records(_) => "records",
                Source::Attestation { .. } => "attestation",
            },
            bonus: i.bonus,
            evidence_hint: match i.source {
                Source::Records(_) => None,
                Source::Attestation { evidence_hint } => Some(evidence_hint),
            },
        }
    }
}
