//! ECR repositories and EKS clusters in AWS Config's shape (reference items
//! `AWS_ECR_Repository.json`, `AWS_EKS_Cluster.json`): CloudFormation's property names,
//! tags as `[{Key, Value}]`, no relationships.

use super::svc::{cfn_tags, Svc};
use super::{at_mut, object_mut, Tags, Top};
use crate::ids;
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Map, Value};

/// A repository named `name` (`team/app`), encrypted with `kms` (a key ARN) or AES256.
pub(crate) fn repository(
    rng: &mut Rng,
    at: Svc<'_>,
    name: &str,
    kms: Option<&str>,
    pull_role: &str,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = at.arn("ecr", &format!("repository/{name}"));
    let keep = *ids::pick(rng, &[10, 30, 50, 100]).unwrap_or(&30);
    let lifecycle = if rng.u8(..4) == 0 {
        json!({})
    } else {
        json!({
            "LifecyclePolicyText": json!({"rules": [{
                "rulePriority": 1,
                "description": format!("keep last {keep} images"),
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                "action": {"type": "expire"},
            }]}).to_string(),
            "RegistryId": at.account,
        })
    };
    let policy = if rng.u8(..3) == 0 {
        json!({})
    } else {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AllowPullFromCI",
                "Effect": "Allow",
                "Principal": {"AWS": pull_role},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }],
        })
    };
    let configuration = json!({
        "Arn": arn,
        "RepositoryName": name,
        "RepositoryUri": format!("{}.dkr.ecr.{}.amazonaws.com/{name}", at.account, at.region),
        "ImageScanningConfiguration": {"ScanOnPush": rng.u8(..3) != 0},
        "ImageTagMutability": if rng.bool() { "IMMUTABLE" } else { "MUTABLE" },
        "EncryptionConfiguration": {
            "EncryptionType": if kms.is_some() { "KMS" } else { "AES256" },
            "KmsKey": kms,
        },
        "LifecyclePolicy": lifecycle,
        "RepositoryPolicyText": policy,
        "Tags": cfn_tags(tags),
    });
    let doc = Top {
        arn,
        name: Some(name),
        az: "Regional",
        created: None,
        tags,
        relationships: Vec::new(),
    }
    .build(configuration, Map::new());
    (at.key(types::ECR_REPOSITORY, name), doc)
}

/// Flips scan-on-push.
pub(crate) fn toggle_scan_on_push(v: &mut Value) -> bool {
    match at_mut(
        v,
        &["configuration", "ImageScanningConfiguration", "ScanOnPush"],
    ) {
        Some(Value::Bool(b)) => {
            *b = !*b;
            true
        }
        _ => false,
    }
}

/// What a cluster depends on.
pub(crate) struct ClusterSpec<'a> {
    pub name: &'a str,
    pub role_arn: &'a str,
    pub subnets: Vec<String>,
    pub sgs: Vec<String>,
    pub kms: &'a str,
}

const VERSIONS: &[&str] = &["1.27", "1.28", "1.29", "1.30"];
const LOG_TYPES: &[&str] = &[
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];

pub(crate) fn cluster(
    rng: &mut Rng,
    at: Svc<'_>,
    c: &ClusterSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = at.arn("eks", &format!("cluster/{}", c.name));
    let oidc = ids::hex(rng, 32).to_ascii_uppercase();
    let public = rng.u8(..3) != 0;
    let cidrs: Vec<String> = if public && rng.bool() {
        vec!["0.0.0.0/0".to_string()]
    } else if public {
        vec![format!("203.0.113.{}/32", rng.u8(1..=254))]
    } else {
        Vec::new()
    };
    let logs: Vec<Value> = LOG_TYPES
        .iter()
        .filter(|_| rng.bool())
        .map(|t| json!({"Type": t}))
        .collect();
    let configuration = json!({
        "Arn": arn,
        "Name": c.name,
        "Version": ids::word(rng, VERSIONS),
        "RoleArn": c.role_arn,
        "ResourcesVpcConfig": {
            "SecurityGroupIds": c.sgs,
            "SubnetIds": c.subnets,
            "EndpointPublicAccess": public,
            "EndpointPrivateAccess": true,
            "PublicAccessCidrs": cidrs,
        },
        "KubernetesNetworkConfig": {
            "ServiceIpv4Cidr": "172.20.0.0/16",
            "ServiceIpv6Cidr": null,
            "IpFamily": "ipv4",
        },
        "Logging": {"ClusterLogging": {"EnabledTypes": logs}},
        "EncryptionConfig": [{"Provider": {"KeyArn": c.kms}, "Resources": ["secrets"]}],
        "EncryptionConfigKeyArn": c.kms,
        "Endpoint": format!("https://{oidc}.gr7.{}.eks.amazonaws.com", at.region),
        "CertificateAuthorityData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
        "OpenIdConnectIssuerUrl": format!("https://oidc.eks.{}.amazonaws.com/id/{oidc}", at.region),
        "ClusterSecurityGroupId": ids::ec2_id(rng, "sg"),
        "Id": null,
        "ClusterStatus": "ACTIVE",
        "AccessConfig": {"AuthenticationMode": "API_AND_CONFIG_MAP"},
        "UpgradePolicy": {"SupportType": "STANDARD"},
        "Tags": cfn_tags(tags),
    });
    let doc = Top {
        arn,
        name: Some(c.name),
        az: "Regional",
        created: None,
        tags,
        relationships: Vec::new(),
    }
    .build(configuration, Map::new());
    (at.key(types::EKS_CLUSTER, c.name), doc)
}

/// Opens the public endpoint to the world, or closes it.
pub(crate) fn toggle_public_endpoint(v: &mut Value) -> bool {
    let Some(vpc) = object_mut(v, &["configuration", "ResourcesVpcConfig"]) else {
        return false;
    };
    let public = vpc.get("EndpointPublicAccess").and_then(Value::as_bool) == Some(true);
    vpc.insert("EndpointPublicAccess".into(), (!public).into());
    vpc.insert(
        "PublicAccessCidrs".into(),
        if public {
            json!([])
        } else {
            json!(["0.0.0.0/0"])
        },
    );
    true
}
