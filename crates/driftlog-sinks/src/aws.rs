//! Credentials and endpoints of delivery, resolved as the AWS SDK resolves them: the
//! standard chain or a named profile, optionally assuming the role named as the recorder's
//! `roleARN` (AWS Config delivers with that role's permissions).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;

/// How delivery reaches AWS (or an AWS-compatible server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsAccess {
    /// Named profile; `None` = the standard chain.
    pub profile: Option<String>,
    /// Region of the bucket (and of SNS topics without one in their ARN); `None` = the
    /// chain's region, else `us-east-1`.
    pub region: Option<String>,
    /// Endpoint of S3, SNS and STS, for moto, MinIO or LocalStack; `None` = AWS's own.
    pub endpoint_url: Option<String>,
    /// Role to assume for delivery (the recorder's `roleARN`); `None` = the credentials
    /// themselves.
    pub role_arn: Option<String>,
}

impl AwsAccess {
    /// The SDK configuration delivery uses: region, endpoint and (assumed) credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(u) = &self.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let mut base = loader.load().await;
        if base.region().is_none() {
            base = base
                .to_builder()
                .region(Region::from_static("us-east-1"))
                .build();
        }
        match &self.role_arn {
            Some(role) => {
                let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                    .session_name("driftlog-delivery")
                    .configure(&base)
                    .build()
                    .await;
                base.to_builder()
                    .credentials_provider(SharedCredentialsProvider::new(provider))
                    .build()
            }
            None => base,
        }
    }
}

/// The region part of an ARN (`arn:aws:sns:<region>:<account>:<name>`).
pub(crate) fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.nth(2))
        .flatten()
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_of_an_arn() {
        assert_eq!(
            arn_region("arn:aws:sns:eu-west-1:111122223333:config"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_region("config"), None);
    }
}
