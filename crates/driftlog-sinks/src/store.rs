//! Where delivered files go: a local directory (the default, nothing to set up) or an S3
//! bucket on AWS or any S3-compatible server, through `object_store`.

use crate::{AwsAccess, Error, Result};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{CredentialProvider, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the delivery channel writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A directory; keys become paths below it.
    Local(PathBuf),
    /// An S3 bucket (AWS, or the endpoint of [`AwsAccess::endpoint_url`]).
    S3 {
        /// Bucket name.
        bucket: String,
    },
}

/// The delivery channel's bucket: writes objects under its key prefix, with SSE-KMS when a
/// key is set.
pub struct DeliveryStore {
    store: Arc<dyn ObjectStore>,
    location: StoreLocation,
    prefix: Option<String>,
}

impl std::fmt::Debug for DeliveryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryStore")
            .field("location", &self.location)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// object_store asks for credentials before each request: hand it the SDK's, so the chain,
/// profiles, SSO and assumed roles (with their refresh) work exactly as for the SDK.
#[derive(Debug)]
struct SdkCredentials(SharedCredentialsProvider);

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let c = self
            .0
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        }))
    }
}

impl DeliveryStore {
    /// Opens the store (creating a local directory if needed; S3 is not contacted yet).
    ///
    /// # Errors
    /// [`Error::Settings`] for a directory that cannot be created, no credentials, or a
    /// bucket setting object_store refuses.
    pub async fn open(
        location: StoreLocation,
        prefix: Option<String>,
        kms_key_arn: Option<String>,
        access: &AwsAccess,
    ) -> Result<Self> {
        let store: Arc<dyn ObjectStore> = match &location {
            StoreLocation::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Settings(format!(
                        "delivery directory {}: {e}; set delivery.local_dir to a writable directory",
                        dir.display()
                    ))
                })?;
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(|e| {
                    Error::Settings(format!("delivery directory {}: {e}", dir.display()))
                })?)
            }
            StoreLocation::S3 { bucket } => {
                let conf = access.sdk_config().await;
                let creds = conf.credentials_provider().ok_or_else(|| {
                    Error::Settings(
                        "no AWS credentials for delivery to S3: set a profile, environment variables or a role".into(),
                    )
                })?;
                let region = conf
                    .region()
                    .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_credentials(Arc::new(SdkCredentials(creds)))
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(30),
                        ..RetryConfig::default()
                    });
                if let Some(url) = &access.endpoint_url {
                    // S3-compatible servers on an address, not a DNS name: path-style, and
                    // plain HTTP when the URL says so (loopback test servers).
                    b = b
                        .with_endpoint(url)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(url.starts_with("http://"));
                }
                if let Some(k) = &kms_key_arn {
                    b = b.with_sse_kms_encryption(k);
                }
                Arc::new(
                    b.build()
                        .map_err(|e| Error::Settings(format!("delivery bucket {bucket:?}: {e}")))?,
                )
            }
        };
        Ok(Self {
            store,
            location,
            prefix: prefix
                .map(|p| p.trim_matches('/').to_string())
                .filter(|p| !p.is_empty()),
        })
    }

    /// The bucket name messages report (`s3Bucket`), or the directory for a local store.
    pub fn bucket(&self) -> String {
        match &self.location {
            StoreLocation::Local(d) => d.display().to_string(),
            StoreLocation::S3 { bucket } => bucket.clone(),
        }
    }

    /// The channel's key prefix.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// Writes one object (replacing one of the same key: re-deliveries are idempotent).
    ///
    /// # Errors
    /// [`Error::Store`] with the store's reason.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = ObjectPath::parse(key).map_err(|e| self.error(e.into()))?;
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Reads one object back (tests, `driftlog deliver` checks).
    ///
    /// # Errors
    /// [`Error::Store`] with the store's reason (`NotFound` for a missing key).
    pub async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = ObjectPath::parse(key).map_err(|e| self.error(e.into()))?;
        let r = self.store.get(&path).await.map_err(|e| self.error(e))?;
        Ok(r.bytes().await.map_err(|e| self.error(e))?.to_vec())
    }

    fn error(&self, source: object_store::Error) -> Error {
        Error::Store {
            location: self.bucket(),
            source,
        }
    }
}

/// AWS's error code for a store failure, for delivery status and failure messages.
pub fn error_code(e: &Error) -> String {
    match e {
        Error::Store { source, .. } => {
            let text = source.to_string();
            for code in [
                "NoSuchBucket",
                "AccessDenied",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "KMS.NotFoundException",
            ] {
                if text.contains(code) {
                    return code.to_string();
                }
            }
            match source {
                object_store::Error::NotFound { .. } => "NoSuchKey".into(),
                object_store::Error::PermissionDenied { .. } => "AccessDenied".into(),
                object_store::Error::Unauthenticated { .. } => "InvalidAccessKeyId".into(),
                _ => "S3Error".into(),
            }
        }
        Error::Settings(_) => "InvalidDeliveryChannel".into(),
        Error::Send(e) => e.code.clone(),
        _ => "InternalError".into(),
    }
}
