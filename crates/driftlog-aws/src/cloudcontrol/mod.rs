//! The generic source: any CloudFormation type the Cloud Control API can list, recorded
//! through `ListResources` (and `GetResource` where a listing returns partial properties).
//!
//! For the types AWS Config added in recent years, AWS Config's `configuration` *is* the
//! CloudFormation property set, so the properties Cloud Control returns are recorded as they
//! are: PascalCase, nested as CloudFormation nests them. What Cloud Control does not give is
//! derived the way AWS Config does for those types: `resourceId` is the primary identifier,
//! `resourceName` the type's `…Name` property, `ARN` its `Arn`/`…Arn` property, tags from
//! `Tags` (a list of `{Key, Value}` or a map), `availabilityZone` `Regional`, no
//! relationships (the generic source knows no edges).
//!
//! Cloud Control returns ~25 items a page and ignores `MaxResults`; every request passes the
//! service's gate (25 requests/s per account and region by default, the rate peers settled
//! on after being throttled at ~30/s); the SDK retries throttling with backoff. A listing
//! that did not finish — an error on any page, a parent whose children could not be listed,
//! a `GetResource` that failed — is never a complete snapshot, so nothing is deleted.

mod types;

use crate::shape::{for_each_page, Listing};
use crate::{error, RegionClients, Service};
use driftlog_model::Document;
use driftlog_poll::PollError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub(crate) use types::ALL;

/// Child types whose listing needs the parent's identity as a `ResourceModel`: (child,
/// parent type, the child's model property, the parent's property holding its value).
const PARENTS: &[(&str, &str, &str, &str)] = &[
    (
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::RestApi",
        "RestApiId",
        "RestApiId",
    ),
    (
        "AWS::ApiGatewayV2::Stage",
        "AWS::ApiGatewayV2::Api",
        "ApiId",
        "ApiId",
    ),
    (
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "LoadBalancerArn",
        "LoadBalancerArn",
    ),
    (
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        "AWS::ElasticLoadBalancingV2::Listener",
        "ListenerArn",
        "ListenerArn",
    ),
    (
        "AWS::EKS::Nodegroup",
        "AWS::EKS::Cluster",
        "ClusterName",
        "Name",
    ),
    (
        "AWS::EKS::FargateProfile",
        "AWS::EKS::Cluster",
        "ClusterName",
        "Name",
    ),
    (
        "AWS::EKS::Addon",
        "AWS::EKS::Cluster",
        "ClusterName",
        "Name",
    ),
    ("AWS::ECS::Service", "AWS::ECS::Cluster", "Cluster", "Arn"),
    (
        "AWS::Route53Resolver::ResolverRuleAssociation",
        "AWS::Route53Resolver::ResolverRule",
        "ResolverRuleId",
        "ResolverRuleId",
    ),
];

/// Types whose list handler is known to return partial properties (Steampipe's and Cloud
/// Custodian's notes): every item is read with `GetResource`. Any other listed item with no
/// property beyond its identifier is read with `GetResource` too.
const ALWAYS_GET: &[&str] = &["AWS::S3::Bucket"];

/// At most this many `GetResource` calls in flight per scope (each still passes the gate).
const GET_CONCURRENCY: usize = 8;

/// The types to record for `cloudcontrol_types` as configured: `"all"` expands to [`ALL`];
/// types `hand_shaped` records are dropped (the hand-shaped items win); sorted, deduplicated.
pub(crate) fn resolve_types(configured: &[String], hand_shaped: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = configured
        .iter()
        .flat_map(|t| {
            if t == "all" {
                ALL.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            } else {
                vec![t.clone()]
            }
        })
        .filter(|t| !hand_shaped.contains(&t.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether AWS Config records `t` once per account, in the region `global` (IAM), as it
/// does the hand-shaped IAM types: Cloud Control returns such resources in every region.
pub(crate) fn is_global(t: &str) -> bool {
    t.starts_with("AWS::IAM::")
}

/// Whether `t` looks like a CloudFormation type name (`AWS::Service::Type`, or a third
/// party's `Org::Service::Type`).
pub(crate) fn is_type_name(t: &str) -> bool {
    let parts: Vec<&str> = t.split("::").collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_alphanumeric())
                && p.as_bytes()[0].is_ascii_alphabetic()
        })
}

/// Lists one type in one account and region (or reads `ids` only); `region` is the scope's
/// (`global` for a global type read through `c`'s region).
pub(crate) async fn list(
    c: &RegionClients,
    region: &str,
    t: &str,
    ids: Option<&[String]>,
) -> Listing {
    let mut out = Listing::default();
    let described: Vec<(String, Option<String>)> = match ids {
        Some(ids) => ids.iter().map(|id| (id.clone(), None)).collect(),
        None => match PARENTS.iter().find(|(child, ..)| *child == t) {
            Some(&(_, parent, model_key, parent_key)) => {
                match list_children(c, t, parent, model_key, parent_key, &mut out).await {
                    Some(found) => found,
                    None => return out,
                }
            }
            None => {
                let (found, err) = list_type(c, t, None).await;
                if let Some(e) = err {
                    out.fail(e);
                }
                found
            }
        },
    };
    // A list handler that returned no more than the identifier gave partial properties.
    let want_get = |props: &Option<String>| match props {
        None => true,
        Some(p) => ALWAYS_GET.contains(&t) || property_count(p) <= 1,
    };
    let (ready, to_get): (Vec<_>, Vec<_>) = described.into_iter().partition(|(_, p)| !want_get(p));
    for (id, props) in ready {
        if let Some(props) = props {
            add(&c.account, region, t, &id, &props, &mut out);
        }
    }
    let targeted = ids.is_some();
    let got: Vec<(String, Result<Option<String>, PollError>)> = stream::iter(to_get)
        .map(|(id, _)| async move {
            let r = get_resource(c, t, &id).await;
            (id, r)
        })
        .buffer_unordered(GET_CONCURRENCY)
        .collect()
        .await;
    for (id, r) in got {
        match r {
            Ok(Some(props)) => add(&c.account, region, t, &id, &props, &mut out),
            // Gone between the listing and the read: not recorded, and no error — the next
            // listing will not have it either. A targeted read of a missing resource is how
            // a re-describe learns of a deletion.
            Ok(None) if targeted => {}
            Ok(None) => {}
            Err(e) => out.fail(e),
        }
    }
    out
}

/// One `ListResources` run over every page: (identifier, properties) per item, and the
/// error that cut it short.
async fn list_type(
    c: &RegionClients,
    t: &str,
    model: Option<String>,
) -> (Vec<(String, Option<String>)>, Option<PollError>) {
    let mut found = Vec::new();
    let req = c
        .cloudcontrol
        .list_resources()
        .type_name(t)
        .set_resource_model(model);
    let err = for_each_page!(
        c.gate(Service::CloudControl),
        "cloudcontrol:ListResources",
        req,
        |page| {
            for d in page.resource_descriptions() {
                if let Some(id) = d.identifier() {
                    found.push((id.to_string(), d.properties().map(str::to_string)));
                }
            }
        }
    );
    (found, err)
}

/// Lists a child type under every resource of its parent type. `None` when the parents
/// themselves could not be listed (the error is in `out`).
async fn list_children(
    c: &RegionClients,
    t: &str,
    parent: &str,
    model_key: &str,
    parent_key: &str,
    out: &mut Listing,
) -> Option<Vec<(String, Option<String>)>> {
    let (parents, err) = list_type(c, parent, None).await;
    if let Some(e) = err {
        out.fail(e);
        return None;
    }
    let mut found = Vec::new();
    for (parent_id, props) in parents {
        let value = props
            .as_deref()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|v| {
                v.get(parent_key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or(parent_id);
        let model = json!({ model_key: value }).to_string();
        let (children, err) = list_type(c, t, Some(model)).await;
        found.extend(children);
        if let Some(e) = err {
            out.fail(e);
        }
    }
    Some(found)
}

/// `GetResource`: the properties, or `None` when the resource no longer exists.
async fn get_resource(c: &RegionClients, t: &str, id: &str) -> Result<Option<String>, PollError> {
    c.gate(Service::CloudControl).pass().await;
    match c
        .cloudcontrol
        .get_resource()
        .type_name(t)
        .identifier(id)
        .send()
        .await
    {
        Ok(o) => Ok(o
            .resource_description()
            .and_then(|d| d.properties())
            .map(str::to_string)),
        Err(e) if error::code_of(&e).as_deref() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(error::from_sdk("cloudcontrol:GetResource", &e)),
    }
}

fn property_count(props: &str) -> usize {
    serde_json::from_str::<Map<String, Value>>(props)
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Shapes one resource's properties as AWS Config records a CloudFormation-shaped type.
fn add(account: &str, region: &str, t: &str, id: &str, props: &str, out: &mut Listing) {
    let configuration: Value = match serde_json::from_str::<Value>(props) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            out.fail(PollError::Source {
                code: "MalformedProperties".into(),
                message: format!(
                    "cloudcontrol: {t} {id}: the properties are not a JSON object; not recorded"
                ),
            });
            return;
        }
    };
    out.add(account, region, t, id, &shape(t, id, configuration));
}

/// The item of one resource from its CloudFormation properties.
pub(crate) fn shape(t: &str, id: &str, configuration: Value) -> Document {
    let short = t.rsplit("::").next().unwrap_or(t);
    let text = |k: &str| {
        configuration
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let resource_name = text(&format!("{short}Name"))
        .or_else(|| text("Name"))
        .or_else(|| Some(id.to_string()));
    let arn = text("Arn")
        .or_else(|| text(&format!("{short}Arn")))
        .or_else(|| id.starts_with("arn:").then(|| id.to_string()));
    Document {
        arn,
        resource_name,
        availability_zone: Some("Regional".into()),
        tags: tags_of(configuration.get("Tags")),
        configuration,
        ..Document::default()
    }
}

/// Tags as AWS Config's top-level map, from CloudFormation's `[{Key, Value}]` or `{k: v}`.
fn tags_of(tags: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match tags {
        Some(Value::Array(list)) => {
            for t in list {
                if let (Some(k), Some(v)) = (
                    t.get("Key").and_then(Value::as_str),
                    t.get("Value").and_then(Value::as_str),
                ) {
                    out.insert(k.to_string(), v.to_string());
                }
            }
        }
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if let Some(v) = v.as_str() {
                    out.insert(k.clone(), v.to_string());
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_and_hand_shaped_types_win() {
        let t = resolve_types(
            &["all".into(), "AWS::APS::Workspace".into()],
            &["AWS::SQS::Queue"],
        );
        assert!(t.len() > 300);
        assert!(t.contains(&"AWS::APS::Workspace".to_string()));
        assert!(!t.contains(&"AWS::SQS::Queue".to_string()));
        assert!(t.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        assert!(
            ALL.iter().all(|t| is_type_name(t)),
            "the built-in list is well-formed"
        );
        assert!(!is_type_name("AWS::S3"));
        assert!(!is_type_name("AWS::S3::Bucket; drop"));
    }

    #[test]
    fn shapes_ids_names_arns_and_tags_from_properties() {
        let doc = shape(
            "AWS::APS::Workspace",
            "ws-1",
            json!({"Arn": "arn:aws:aps:eu-west-1:111122223333:workspace/ws-1",
                   "Alias": "prod", "Tags": [{"Key": "team", "Value": "obs"}]}),
        );
        assert_eq!(doc.resource_name.as_deref(), Some("ws-1"));
        assert_eq!(
            doc.arn.as_deref(),
            Some("arn:aws:aps:eu-west-1:111122223333:workspace/ws-1")
        );
        assert_eq!(doc.tags["team"], "obs");
        assert_eq!(doc.configuration["Alias"], "prod");
        let doc = shape(
            "AWS::Logs::LogGroup",
            "app",
            json!({"LogGroupName": "app", "Tags": {"a": "b"}}),
        );
        assert_eq!(doc.resource_name.as_deref(), Some("app"));
        assert_eq!(doc.arn, None);
        assert_eq!(doc.tags["a"], "b");
    }
}
