//! Config rules: judging configuration items as AWS Config rules do. [`managed`] holds
//! AWS's managed rules under their identifiers (`INCOMING_SSH_DISABLED`, …), with their
//! `InputParameters`, triggers and semantics, as pure functions of one item in AWS Config's
//! notification form (and, for the few rules that need them, the current items of related
//! types the caller hands over: a VPC's flow logs, an account's trails), so the same code
//! judges live changes, scheduled runs and history.

pub mod cel;
pub mod managed;
mod rule;

pub use rule::{Evaluator, Judge, Rule, Scope};

use serde::{Deserialize, Serialize};

/// AWS Config's `ComplianceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Compliance {
    /// The resource passes the rule.
    #[serde(rename = "COMPLIANT")]
    Compliant,
    /// The resource fails the rule.
    #[serde(rename = "NON_COMPLIANT")]
    NonCompliant,
    /// The rule does not judge this resource (another type, or it is gone).
    #[serde(rename = "NOT_APPLICABLE")]
    NotApplicable,
    /// Not enough to judge (the rule errored, or nothing was evaluated yet).
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl Compliance {
    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Compliance::Compliant => "COMPLIANT",
            Compliance::NonCompliant => "NON_COMPLIANT",
            Compliance::NotApplicable => "NOT_APPLICABLE",
            Compliance::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// A rule's judgement of one resource, with AWS's `Annotation` saying why (≤ 256 chars).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The judgement.
    pub compliance: Compliance,
    /// Why, for people (`Annotation`).
    pub annotation: Option<String>,
}

impl Verdict {
    /// Compliant, no annotation.
    pub fn compliant() -> Self {
        Self {
            compliance: Compliance::Compliant,
            annotation: None,
        }
    }

    /// Non-compliant, saying why.
    pub fn non_compliant(why: impl Into<String>) -> Self {
        let mut why: String = why.into();
        if why.chars().count() > 256 {
            why = why.chars().take(253).collect::<String>() + "...";
        }
        Self {
            compliance: Compliance::NonCompliant,
            annotation: Some(why),
        }
    }

    /// Not applicable.
    pub fn not_applicable() -> Self {
        Self {
            compliance: Compliance::NotApplicable,
            annotation: None,
        }
    }
}

/// Why a rule could not be set up or could not judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// No managed rule has this identifier.
    #[error("unknown managed rule identifier {0:?}")]
    UnknownRule(String),
    /// A parameter is missing, unknown or malformed (names it).
    #[error("InputParameters: {0}")]
    Parameter(String),
    /// The rule's scope contradicts itself (names the members).
    #[error("Scope: {0}")]
    Scope(String),
    /// The item is not what the rule's type looks like (names the path).
    #[error("configuration item: {0}")]
    Item(String),
    /// A CEL expression does not compile.
    #[error("CEL expression: {0}")]
    Expression(String),
    /// A CEL expression or an external evaluator failed on one item.
    #[error("evaluation failed: {0}")]
    Evaluation(String),
}
