//! The twenty service types of issue 15 (Lambda, RDS, KMS, CloudTrail, ELB, DynamoDB, SNS,
//! SQS, ECR, EKS, Secrets Manager, CloudWatch, NAT gateways, EIPs, VPC endpoints, flow
//! logs): their share of the estate and their generation (their churn is
//! `service_churn`, which works on the built `Estate`).
//!
//! They are kept apart from the original fourteen types on purpose: separate random
//! streams, separate tick operations and a separate operation budget, so that the
//! original types' documents, counts and tick-by-tick churn stay byte-identical to what
//! they were before these types existed.

pub(crate) mod plan;
pub(crate) mod unit;
