//! Subject identifiers (主体标识).
//!
//! * [`Uscc`]: 统一社会信用代码, the unified social credit code of enterprises and other
//!   organisations (GB 32100-2015).
//! * [`IdNumber`]: 公民身份号码, the resident ID number of individuals (GB 11643-1999). Personal
//!   data: its `Display` and `Debug` are masked; only [`IdNumber::as_str`] gives the full number.
//! * [`SubjectCode`]: either of the two, told apart by their shape.

use std::fmt;

use chrono::NaiveDate;
use serde::{Serialize, Serializer};

/// The 31 characters of a unified social credit code, in value order (no I, O, S, V, Z).
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectCodeError {
    #[error("a subject code has 18 characters, this one has {0}")]
    Length(usize),
    #[error("character {position} ({found:?}) is not allowed in a unified social credit code")]
    UsccCharacter { position: usize, found: char },
    #[error(
        "the check character of this unified social credit code should be {expected}, not {found}"
    )]
    UsccCheck { expected: char, found: char },
    #[error("character {position} ({found:?}) is not allowed in a resident ID number")]
    IdCharacter { position: usize, found: char },
    #[error("the birth date in this resident ID number is not a real date")]
    IdBirthDate,
    #[error("the check character of this resident ID number is wrong")]
    IdCheck,
}

impl SubjectCodeError {
    /// Stable machine-readable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            SubjectCodeError::UsccCheck { .. } | SubjectCodeError::IdCheck => "checksum_mismatch",
            SubjectCodeError::IdBirthDate => "invalid_birth_date",
            _ => "invalid_format",
        }
    }

    /// True when only the check character is wrong (some real early codes are like that; a bureau
    /// user may record them with an explicit acknowledgement).
    pub fn is_checksum_only(&self) -> bool {
        matches!(
            self,
            SubjectCodeError::UsccCheck { .. } | SubjectCodeError::IdCheck
        )
    }
}

/// 统一社会信用代码: a valid unified social credit code, upper-case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc(String);

impl Uscc {
    pub fn parse(raw: &str) -> Result<Self, SubjectCodeError> {
        let code = Self::parse_shape(raw)?;
        let expected = uscc_check_char(code.as_bytes());
        let found = code.as_bytes()[17] as char;
        if expected != found {
            return Err(SubjectCodeError::UsccCheck { expected, found });
        }
        Ok(Uscc(code))
    }

    /// Accepts a code whose only fault is its check character. Only for recording known early
    /// codes after an explicit acknowledgement; the caller must keep the record flagged.
    pub fn parse_ignoring_check(raw: &str) -> Result<Self, SubjectCodeError> {
        Self::parse_shape(raw).map(Uscc)
    }

    fn parse_shape(raw: &str) -> Result<String, SubjectCodeError> {
        let code = raw.trim().to_ascii_uppercase();
        let len = code.chars().count();
        if len != 18 {
            return Err(SubjectCodeError::Length(len));
        }
        for (i, c) in code.chars().enumerate() {
            if !c.is_ascii() || !USCC_ALPHABET.contains(&(c as u8)) {
                return Err(SubjectCodeError::UsccCharacter {
                    position: i + 1,
                    found: c,
                });
            }
        }
        Ok(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Completes 17 characters with the right check character (for generating test and demo
    /// codes); `None` if the prefix is not 17 valid characters.
    pub fn with_check_character(prefix: &str) -> Option<Uscc> {
        let p = prefix.trim().to_ascii_uppercase();
        if p.len() != 17 || !p.bytes().all(|c| USCC_ALPHABET.contains(&c)) {
            return None;
        }
        let check = uscc_check_char(p.as_bytes());
        Some(Uscc(format!("{p}{check}")))
    }

    /// Characters 3–8: the administrative division (行政区划) code of the registering authority.
    pub fn division_code(&self) -> &str {
        &self.0[2..8]
    }
}

fn uscc_value(c: u8) -> u32 {
    USCC_ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u32
}

fn uscc_check_char(code: &[u8]) -> char {
    let sum: u32 = code[..17]
        .iter()
        .zip(USCC_WEIGHTS)
        .map(|(&c, w)| uscc_value(c) * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    USCC_ALPHABET[check as usize] as char
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({})", self.0)
    }
}

/// 公民身份号码: a valid 18-character resident ID number. Personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(raw: &str) -> Result<Self, SubjectCodeError> {
        let code = raw.trim().to_ascii_uppercase();
        let len = code.chars().count();
        if len != 18 {
            return Err(SubjectCodeError::Length(len));
        }
        let bytes = code.as_bytes();
        for (i, c) in code.chars().enumerate() {
            let ok = c.is_ascii_digit() || (i == 17 && c == 'X');
            if !ok {
                return Err(SubjectCodeError::IdCharacter {
                    position: i + 1,
                    found: c,
                });
            }
        }
        let year: i32 = code[6..10]
            .parse()
            .map_err(|_| SubjectCodeError::IdBirthDate)?;
        let month: u32 = code[10..12]
            .parse()
            .map_err(|_| SubjectCodeError::IdBirthDate)?;
        let day: u32 = code[12..14]
            .parse()
            .map_err(|_| SubjectCodeError::IdBirthDate)?;
        let birth =
            NaiveDate::from_ymd_opt(year, month, day).ok_or(SubjectCodeError::IdBirthDate)?;
        if year < 1800 || birth > chrono::Utc::now().date_naive() {
            return Err(SubjectCodeError::IdBirthDate);
        }
        let sum: u32 = bytes[..17]
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(&c, w)| (c - b'0') as u32 * w)
            .sum();
        if ID_CHECK[(sum % 11) as usize] != bytes[17] {
            return Err(SubjectCodeError::IdCheck);
        }
        Ok(IdNumber(code))
    }

    /// Completes 17 digits (division, birth date, sequence) with the right check character;
    /// `None` if the result would not be a valid number.
    pub fn with_check_character(prefix: &str) -> Option<IdNumber> {
        if prefix.len() != 17 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sum: u32 = prefix
            .bytes()
            .zip(ID_WEIGHTS)
            .map(|(c, w)| (c - b'0') as u32 * w)
            .sum();
        let check = ID_CHECK[(sum % 11) as usize] as char;
        IdNumber::parse(&format!("{prefix}{check}")).ok()
    }

    /// The full number. Never log it or send it to anonymous callers; use [`IdNumber::masked`].
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `110105********002X`: the division code and the last four characters stay visible.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    pub fn division_code(&self) -> &str {
        &self.0[..6]
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// Kind of subject a code identifies, as far as the code alone tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// 法人和非法人组织 (enterprise or other organisation), identified by a USCC.
    Organisation,
    /// 自然人 (individual), identified by a resident ID number.
    Individual,
}

/// Kinds of subject an item applies to (适用主体).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// 企业
    Enterprise,
    /// 自然人
    Individual,
    /// 其他组织 (社会组织, 事业单位 …)
    OtherOrganisation,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Enterprise => "enterprise",
            SubjectType::Individual => "individual",
            SubjectType::OtherOrganisation => "other_organisation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SubjectType::Enterprise,
            SubjectType::Individual,
            SubjectType::OtherOrganisation,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Why a stated kind does not fit a code ([`SubjectCode::type_with`]).
pub const KIND_MISMATCH: &str =
    "an ID number identifies an individual, a unified social credit code an organisation";

/// A subject's identifier: a unified social credit code or a resident ID number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SubjectCode {
    Uscc(Uscc),
    IdNumber(IdNumber),
}

impl SubjectCode {
    /// All-digit codes (with an optional final X) are read as ID numbers, everything else as
    /// unified social credit codes. The error names the check that failed.
    pub fn parse(raw: &str) -> Result<Self, SubjectCodeError> {
        let t = raw.trim().to_ascii_uppercase();
        // Bytes, not a string slice: an 18-byte input may hold multi-byte characters.
        let looks_like_id = t.len() == 18
            && t.as_bytes()[..17].iter().all(|b| b.is_ascii_digit())
            && (t.as_bytes()[17].is_ascii_digit() || t.as_bytes()[17] == b'X');
        if looks_like_id {
            // An all-digit USCC is possible in principle; accept it when it is not a valid ID.
            match IdNumber::parse(&t) {
                Ok(id) => Ok(SubjectCode::IdNumber(id)),
                Err(id_err) => Uscc::parse(&t).map(SubjectCode::Uscc).map_err(|_| id_err),
            }
        } else {
            Uscc::parse(&t).map(SubjectCode::Uscc)
        }
    }

    /// The kind of subject when none is stated: an ID number an individual; a unified social
    /// credit code of an enterprise (registered by market regulation, first character `9`) an
    /// enterprise; any other code another organisation (社会组织, 事业单位 …).
    pub fn default_type(&self) -> SubjectType {
        match self {
            SubjectCode::IdNumber(_) => SubjectType::Individual,
            SubjectCode::Uscc(u) if u.as_str().starts_with('9') => SubjectType::Enterprise,
            SubjectCode::Uscc(_) => SubjectType::OtherOrganisation,
        }
    }

    /// The kind a caller stated, if it fits the code (an ID number is an individual, a unified
    /// social credit code is not), or [`Self::default_type`] when none is stated. `Err` is
    /// [`KIND_MISMATCH`].
    pub fn type_with(&self, stated: Option<SubjectType>) -> Result<SubjectType, &'static str> {
        match (self, stated) {
            (_, None) => Ok(self.default_type()),
            (SubjectCode::IdNumber(_), Some(SubjectType::Individual)) => {
                Ok(SubjectType::Individual)
            }
            (SubjectCode::IdNumber(_), Some(_))
            | (SubjectCode::Uscc(_), Some(SubjectType::Individual)) => Err(KIND_MISMATCH),
            (SubjectCode::Uscc(_), Some(k)) => Ok(k),
        }
    }

    pub fn kind(&self) -> SubjectKind {
        match self {
            SubjectCode::Uscc(_) => SubjectKind::Organisation,
            SubjectCode::IdNumber(_) => SubjectKind::Individual,
        }
    }

    /// The full code, for storage and authorised staff.
    pub fn as_str(&self) -> &str {
        match self {
            SubjectCode::Uscc(c) => c.as_str(),
            SubjectCode::IdNumber(c) => c.as_str(),
        }
    }

    /// What the public may see: a USCC in full, an ID number masked.
    pub fn public(&self) -> String {
        match self {
            SubjectCode::Uscc(c) => c.as_str().to_string(),
            SubjectCode::IdNumber(c) => c.masked(),
        }
    }

    pub fn division_code(&self) -> &str {
        match self {
            SubjectCode::Uscc(c) => c.division_code(),
            SubjectCode::IdNumber(c) => c.division_code(),
        }
    }
}

impl fmt::Display for SubjectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.public())
    }
}

impl fmt::Debug for SubjectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectCode::Uscc(c) => fmt::Debug::fmt(c, f),
            SubjectCode::IdNumber(c) => fmt::Debug::fmt(c, f),
        }
    }
}

/// Serialises masked: a subject code written to JSON without thought must not leak an ID number.
/// Staff views that need the full code serialise [`SubjectCode::as_str`] explicitly.
impl Serialize for SubjectCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_uscc_from_the_domain_reference() {
        let c = Uscc::parse("91350100M000100Y43").unwrap();
        assert_eq!(c.as_str(), "91350100M000100Y43");
        assert_eq!(c.division_code(), "350100");
    }

    #[test]
    fn uscc_is_normalised_to_upper_case_and_trimmed() {
        assert_eq!(
            Uscc::parse(" 91350100m000100y43 ").unwrap().as_str(),
            "91350100M000100Y43"
        );
    }

    #[test]
    fn uscc_with_wrong_check_character_is_rejected_with_the_expected_one() {
        let err = Uscc::parse("91350100M000100Y44").unwrap_err();
        assert_eq!(
            err,
            SubjectCodeError::UsccCheck {
                expected: '3',
                found: '4'
            }
        );
        assert!(err.is_checksum_only());
        assert_eq!(err.code(), "checksum_mismatch");
    }

    #[test]
    fn known_early_code_fails_the_check_but_can_be_acknowledged() {
        let err = Uscc::parse("91350211M00013FA1N").unwrap_err();
        assert!(err.is_checksum_only());
        assert!(Uscc::parse_ignoring_check("91350211M00013FA1N").is_ok());
        // Acknowledgement does not excuse a malformed code.
        assert!(Uscc::parse_ignoring_check("91350211M00013FA1I").is_err());
    }

    #[test]
    fn uscc_rejects_forbidden_letters_and_wrong_lengths() {
        for bad in [
            "91350100I000100Y43",
            "91350100O000100Y43",
            "91350100S000100Y43",
            "91350100V000100Y43",
            "91350100Z000100Y43",
        ] {
            assert!(
                matches!(
                    Uscc::parse(bad),
                    Err(SubjectCodeError::UsccCharacter { position: 9, .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            Uscc::parse("91350100M000100Y4"),
            Err(SubjectCodeError::Length(17))
        );
        assert_eq!(Uscc::parse(""), Err(SubjectCodeError::Length(0)));
        assert!(Uscc::parse("９1350100M000100Y43").is_err());
        assert!(Uscc::parse("通化市通化市通化市通化市通化市通化市").is_err());
    }

    #[test]
    fn check_value_31_becomes_0() {
        // Search the 17-character prefixes ending in 0..9 for one whose sum is a multiple of 31.
        for d in b'0'..=b'9' {
            for e in b'0'..=b'9' {
                let mut prefix = b"9122050000000000".to_vec();
                prefix.push(d);
                prefix[15] = e;
                let sum: u32 = prefix
                    .iter()
                    .zip(USCC_WEIGHTS)
                    .map(|(&c, w)| uscc_value(c) * w)
                    .sum();
                if sum.is_multiple_of(31) {
                    let code = format!("{}0", String::from_utf8(prefix).unwrap());
                    assert!(Uscc::parse(&code).is_ok(), "{code}");
                    return;
                }
            }
        }
        panic!("no prefix with sum divisible by 31 found");
    }

    #[test]
    fn check_characters_can_be_computed() {
        assert_eq!(
            Uscc::with_check_character("91350100M000100Y4")
                .unwrap()
                .as_str(),
            "91350100M000100Y43"
        );
        assert_eq!(
            IdNumber::with_check_character("11010519491231002")
                .unwrap()
                .as_str(),
            "11010519491231002X"
        );
        assert!(Uscc::with_check_character("short").is_none());
        assert!(IdNumber::with_check_character("11010519490231002").is_none());
    }

    #[test]
    fn valid_id_number_from_the_domain_reference() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(id.division_code(), "110105");
        assert_eq!(
            IdNumber::parse("11010519491231002x").unwrap().as_str(),
            "11010519491231002X"
        );
    }

    #[test]
    fn id_number_display_and_debug_are_masked() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.to_string(), "110105********002X");
        assert!(!format!("{id:?}").contains("19491231"));
        let code = SubjectCode::parse("11010519491231002X").unwrap();
        assert!(!format!("{code:?}").contains("19491231"));
        assert_eq!(
            serde_json::to_string(&code).unwrap(),
            "\"110105********002X\""
        );
    }

    #[test]
    fn id_number_with_wrong_check_or_impossible_date_is_rejected() {
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(SubjectCodeError::IdCheck)
        );
        // 31 February.
        assert_eq!(
            IdNumber::parse("110105194902310020"),
            Err(SubjectCodeError::IdBirthDate)
        );
        // Born in the future.
        assert_eq!(
            IdNumber::parse("110105299901010020"),
            Err(SubjectCodeError::IdBirthDate)
        );
        assert!(matches!(
            IdNumber::parse("1101051949123100X2"),
            Err(SubjectCodeError::IdCharacter { position: 17, .. })
        ));
        assert_eq!(
            IdNumber::parse("1101051949123"),
            Err(SubjectCodeError::Length(13))
        );
    }

    #[test]
    fn the_subject_type_follows_the_code_unless_a_fitting_one_is_stated() {
        let enterprise = SubjectCode::parse("91350100M000100Y43").unwrap();
        let person = SubjectCode::parse("11010519491231002X").unwrap();
        assert_eq!(enterprise.default_type(), SubjectType::Enterprise);
        assert_eq!(person.default_type(), SubjectType::Individual);
        assert_eq!(
            enterprise.type_with(Some(SubjectType::OtherOrganisation)),
            Ok(SubjectType::OtherOrganisation)
        );
        assert_eq!(enterprise.type_with(None), Ok(SubjectType::Enterprise));
        assert_eq!(
            enterprise.type_with(Some(SubjectType::Individual)),
            Err(KIND_MISMATCH)
        );
        assert_eq!(
            person.type_with(Some(SubjectType::Enterprise)),
            Err(KIND_MISMATCH)
        );
        assert_eq!(
            person.type_with(Some(SubjectType::Individual)),
            Ok(SubjectType::Individual)
        );
    }

    #[test]
    fn subject_code_tells_the_kinds_apart() {
        let org = SubjectCode::parse("91350100M000100Y43").unwrap();
        assert_eq!(org.kind(), SubjectKind::Organisation);
        assert_eq!(org.public(), "91350100M000100Y43");
        let person = SubjectCode::parse("11010519491231002X").unwrap();
        assert_eq!(person.kind(), SubjectKind::Individual);
        assert_eq!(person.as_str(), "11010519491231002X");
        assert_eq!(person.public(), "110105********002X");
        // A digits-only code that is neither is reported with the ID number's error.
        assert_eq!(
            SubjectCode::parse("110105194912310021"),
            Err(SubjectCodeError::IdCheck)
        );
    }

    #[test]
    fn uscc_check_agrees_with_a_brute_force_of_every_final_character() {
        let prefix = "91220500MA0000001";
        let valid: Vec<char> = USCC_ALPHABET
            .iter()
            .map(|&c| format!("{prefix}{}", c as char))
            .filter(|code| Uscc::parse(code).is_ok())
            .map(|code| code.chars().last().unwrap())
            .collect();
        assert_eq!(valid.len(), 1, "exactly one check character fits");
    }
}
