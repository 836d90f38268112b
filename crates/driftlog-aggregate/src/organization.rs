//! The member accounts of an AWS organization, for aggregators defined with an
//! `OrganizationAggregationSource`: AWS Config reads them from AWS Organizations
//! (`ListAccounts`, as the management account or a delegated administrator, through the
//! aggregator's role) and includes their resources without aggregation authorizations.

use aws_sdk_organizations::error::ProvideErrorMetadata;
use aws_sdk_organizations::types::AccountStatus;

/// Why the organization could not be read: AWS's error code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("organizations:ListAccounts: {code}: {message}")]
pub struct OrganizationError {
    /// `AWSOrganizationsNotInUseException`, `AccessDeniedException`, …
    pub code: String,
    /// What AWS said.
    pub message: String,
}

/// The ids of the organization's ACTIVE accounts, sorted.
///
/// # Errors
/// Organizations refused or could not be reached (the account is in no organization, the
/// role may not read it, the credentials are missing).
pub async fn member_accounts(sdk: &aws_types::SdkConfig) -> Result<Vec<String>, OrganizationError> {
    let client = aws_sdk_organizations::Client::new(sdk);
    let failed = |e: &dyn ProvideErrorMetadata, debug: String| OrganizationError {
        code: e.code().unwrap_or("Unreachable").to_string(),
        message: e.message().map_or(debug, str::to_string),
    };
    // An account in no organization: AWSOrganizationsNotInUseException, said here first
    // (ListAccounts alone may answer an empty list).
    client
        .describe_organization()
        .send()
        .await
        .map_err(|e| failed(&e, format!("{e:?}")))?;
    let mut pages = client.list_accounts().into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed(&e, format!("{e:?}")))?;
        for a in page.accounts() {
            if a.status().is_none_or(|s| *s == AccountStatus::Active) {
                if let Some(id) = a.id() {
                    out.push(id.to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}
