//! EKS clusters, in the CloudFormation (Cloud Control) shape AWS Config records for them:
//! PascalCase, enabled log types as `[{Type}]`, tags as `[{Key, Value}]`, no relationships.

use crate::reads::{fan_out, optional, wanted};
use crate::shape::{for_each_page, Listing};
use crate::{RegionClients, Service};
use aws_sdk_eks::types::Cluster;
use driftlog_model::Document;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// AWS Config's type name.
pub(crate) const CLUSTER: &str = "AWS::EKS::Cluster";
pub(crate) const TYPES: &[&str] = &[CLUSTER];

/// Lists the region's clusters; `ids` (cluster names) narrows it.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut names = Vec::new();
    let req = c.eks.list_clusters().max_results(100);
    let err = for_each_page!(c.gate(Service::Eks), "eks:ListClusters", req, |page| {
        names.extend(page.clusters().iter().filter(|n| wanted(ids, n)).cloned());
    });
    let read = fan_out(names.iter().map(|n| describe(c, n)).collect()).await;
    for r in read {
        match r {
            Ok(Some(o)) => {
                if let Some(cl) = o.cluster() {
                    let doc = shape(cl);
                    out.add(
                        &c.account,
                        &c.region,
                        CLUSTER,
                        cl.name().unwrap_or_default(),
                        &doc,
                    );
                }
            }
            Ok(None) => {}
            Err(e) => out.fail(e),
        }
    }
    out.ended_by(err)
}

async fn describe(
    c: &RegionClients,
    name: &str,
) -> Result<
    Option<aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput>,
    driftlog_poll::PollError,
> {
    optional(
        c.gate(Service::Eks),
        "eks:DescribeCluster",
        c.eks.describe_cluster().name(name).send(),
        // Deleted since the listing: gone.
        &["ResourceNotFoundException"],
    )
    .await
}

/// The encrypted resources: deprecated in the API (EKS now encrypts everything), still
/// what AWS Config records.
#[allow(deprecated)]
fn resources(e: &aws_sdk_eks::types::EncryptionConfig) -> &[String] {
    e.resources()
}

fn shape(cl: &Cluster) -> Document {
    let vpc = cl.resources_vpc_config();
    let enabled: Vec<Value> = cl
        .logging()
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|s| s.enabled() == Some(true))
        .flat_map(|s| s.types().iter().map(|t| json!({"Type": t.as_str()})))
        .collect();
    let encryption: Vec<Value> = cl
        .encryption_config()
        .iter()
        .map(|e| {
            json!({
                "Provider": e.provider().map(|p| json!({"KeyArn": p.key_arn()})),
                "Resources": resources(e),
            })
        })
        .collect();
    let key_arn = cl
        .encryption_config()
        .iter()
        .find_map(|e| e.provider().and_then(|p| p.key_arn()));
    let tags: BTreeMap<String, String> = cl
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let tag_list: Value = tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    let configuration = json!({
        "Arn": cl.arn(),
        "Name": cl.name(),
        "Version": cl.version(),
        "RoleArn": cl.role_arn(),
        "ResourcesVpcConfig": vpc.map(|v| json!({
            "SecurityGroupIds": v.security_group_ids(),
            "SubnetIds": v.subnet_ids(),
            "EndpointPublicAccess": v.endpoint_public_access(),
            "EndpointPrivateAccess": v.endpoint_private_access(),
            "PublicAccessCidrs": v.public_access_cidrs(),
        })),
        "KubernetesNetworkConfig": cl.kubernetes_network_config().map(|k| json!({
            "ServiceIpv4Cidr": k.service_ipv4_cidr(),
            "ServiceIpv6Cidr": k.service_ipv6_cidr(),
            "IpFamily": k.ip_family().map(|f| f.as_str()),
        })),
        "Logging": {"ClusterLogging": {"EnabledTypes": enabled}},
        "EncryptionConfig": encryption,
        "EncryptionConfigKeyArn": key_arn,
        "Endpoint": cl.endpoint(),
        "CertificateAuthorityData": cl.certificate_authority().and_then(|a| a.data()),
        "OpenIdConnectIssuerUrl": cl.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()),
        "ClusterSecurityGroupId": vpc.and_then(|v| v.cluster_security_group_id()),
        "Id": cl.id(),
        "ClusterStatus": cl.status().map(|s| s.as_str()),
        "AccessConfig": cl.access_config().map(|a| json!({
            "AuthenticationMode": a.authentication_mode().map(|m| m.as_str()),
        })),
        "UpgradePolicy": cl.upgrade_policy().map(|u| json!({
            "SupportType": u.support_type().map(|s| s.as_str()),
        })),
        "Tags": tag_list,
    });
    Document {
        arn: cl.arn().map(str::to_string),
        resource_name: cl.name().map(str::to_string),
        availability_zone: Some("Regional".into()),
        resource_creation_time: None,
        tags,
        relationships: Vec::new(),
        configuration,
        supplementary_configuration: Map::new(),
    }
}
