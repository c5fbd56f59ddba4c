//! Parse-once domain types: once a value exists it is valid.

pub mod dates;
pub mod subject_code;

pub use subject_code::{IdNumber, SubjectCode, SubjectCodeError, SubjectKind, SubjectType, Uscc};
