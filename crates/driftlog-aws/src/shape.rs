//! Small pieces shared by the per-service shapers: times, tags, relationships, ARNs, the
//! paging loop.

use aws_sdk_ec2::primitives::DateTime;
use driftlog_model::{Document, Observed, Relationship, ResourceKey};
use driftlog_poll::PollError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What listing one scope (or describing some resources) produced: the resources fully
/// read, and the error that cut the listing short, if any. With an error the resources are
/// recorded but nothing is deleted.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) resources: Vec<Observed>,
    pub(crate) error: Option<PollError>,
}

impl Listing {
    /// Keeps the first error: it is the cause, later ones are consequences.
    pub(crate) fn fail(&mut self, e: PollError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// The listing, ended by `error` if the paging loop stopped on one.
    pub(crate) fn ended_by(mut self, error: Option<PollError>) -> Self {
        if let Some(e) = error {
            self.fail(e);
        }
        self
    }

    /// Canonicalizes and keeps one shaped resource.
    pub(crate) fn add(
        &mut self,
        account: &str,
        region: &str,
        resource_type: &str,
        id: &str,
        doc: &Document,
    ) {
        self.resources
            .push(observe(account, region, resource_type, id, doc));
    }
}

/// AWS Config's time format: ISO 8601 in UTC with milliseconds.
pub(crate) fn iso(t: Option<&DateTime>) -> Value {
    match t {
        Some(t) => Value::String(iso_str(t)),
        None => Value::Null,
    }
}

/// [`iso`] for a time that is always present.
pub(crate) fn iso_str(t: &DateTime) -> String {
    let ms = t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000);
    driftlog_model::time::iso_ms(ms)
}

/// The partition of a region, for ARNs.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A relationship without a target name (EC2 targets have none).
pub(crate) fn rel(name: &str, resource_type: &str, id: &str) -> Relationship {
    Relationship {
        resource_id: id.to_string(),
        resource_name: None,
        resource_type: resource_type.to_string(),
        name: name.to_string(),
    }
}

/// A relationship to a named target (IAM).
pub(crate) fn rel_named(name: &str, resource_type: &str, id: &str, target: &str) -> Relationship {
    Relationship {
        resource_id: id.to_string(),
        resource_name: Some(target.to_string()),
        resource_type: resource_type.to_string(),
        name: name.to_string(),
    }
}

/// Sorts and de-duplicates relationships: the same edge found twice (an instance with two
/// ENIs in one subnet) is one edge.
pub(crate) fn dedup(mut rels: Vec<Relationship>) -> Vec<Relationship> {
    rels.sort_by(|a, b| {
        (&a.resource_type, &a.resource_id, &a.name).cmp(&(
            &b.resource_type,
            &b.resource_id,
            &b.name,
        ))
    });
    rels.dedup_by(|a, b| {
        a.resource_type == b.resource_type && a.resource_id == b.resource_id && a.name == b.name
    });
    rels
}

/// Tags in both of AWS Config's forms: `[{key, value}]` inside `configuration`, a map at
/// the top level.
pub(crate) fn tag_pairs<'a>(
    tags: impl Iterator<Item = (&'a str, &'a str)>,
) -> (Value, BTreeMap<String, String>) {
    let mut list = Vec::new();
    let mut map = BTreeMap::new();
    for (k, v) in tags {
        list.push(json!({"key": k, "value": v}));
        map.insert(k.to_string(), v.to_string());
    }
    (Value::Array(list), map)
}

/// Canonicalizes one shaped resource.
pub(crate) fn observe(
    account: &str,
    region: &str,
    resource_type: &str,
    id: &str,
    doc: &Document,
) -> Observed {
    Observed::new(ResourceKey::new(account, region, resource_type, id), doc)
}

/// The token a page of a listing gives for the next page.
pub(crate) trait PageToken {
    fn page_token(&self) -> Option<&str>;
}

macro_rules! page_token {
    ($($t:ty => $m:ident),* $(,)?) => {
        $(impl PageToken for $t {
            fn page_token(&self) -> Option<&str> {
                self.$m()
            }
        })*
    };
}

page_token!(
    aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput => next_token,
    aws_sdk_ec2::operation::describe_network_acls::DescribeNetworkAclsOutput => next_token,
    aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput => next_token,
    aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput => next_token,
    aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput => next_token,
    aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput => next_token,
    aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput => next_token,
    aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput => next_token,
    aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput => next_token,
    aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput => next_token,
    aws_sdk_ec2::operation::describe_vpc_endpoints::DescribeVpcEndpointsOutput => next_token,
    aws_sdk_ec2::operation::describe_flow_logs::DescribeFlowLogsOutput => next_token,
    aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersOutput => next_marker,
    aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput => next_marker,
    aws_sdk_sns::operation::list_topics::ListTopicsOutput => next_token,
    aws_sdk_sqs::operation::list_queues::ListQueuesOutput => next_token,
    aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesOutput => next_token,
    aws_sdk_eks::operation::list_clusters::ListClustersOutput => next_token,
    aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput => next_token,
    aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput => next_token,
    aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput => marker,
    aws_sdk_iam::operation::list_policies::ListPoliciesOutput => marker,
    aws_sdk_cloudcontrol::operation::list_resources::ListResourcesOutput => next_token,
    aws_sdk_lambda::operation::list_functions::ListFunctionsOutput => next_marker,
    aws_sdk_kms::operation::list_keys::ListKeysOutput => next_marker,
    aws_sdk_dynamodb::operation::list_tables::ListTablesOutput => last_evaluated_table_name,
    aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput => marker,
    aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput => marker,
    aws_sdk_rds::operation::describe_db_subnet_groups::DescribeDbSubnetGroupsOutput => marker,
    aws_sdk_rds::operation::describe_db_snapshots::DescribeDbSnapshotsOutput => marker,
);

/// The error of a listing whose service handed out the same page token twice: the SDK's
/// paginator then stops as if the listing had ended, so it is caught here, or a truncated
/// listing would pass for a complete one (and its missing resources for deletions).
pub(crate) fn repeated_token(call: &str) -> PollError {
    PollError::Source {
        code: "RepeatedPageToken".into(),
        message: format!(
            "{call}: the service returned the same page token twice; the listing is incomplete"
        ),
    }
}

/// Runs a paginated call page by page, each request through the gate; the body gets each
/// page; an error (or a repeated page token) stops the loop and is returned, with the pages
/// read so far kept.
macro_rules! for_each_page {
    ($gate:expr, $call:expr, $request:expr, |$page:ident| $body:block) => {{
        let mut stream = $request.into_paginator().send();
        let mut error = None;
        let mut last_token: Option<String> = None;
        loop {
            $gate.admit().await;
            match stream.next().await {
                None => break,
                Some(Ok($page)) => {
                    $gate.count();
                    let token = $crate::shape::PageToken::page_token(&$page).map(str::to_string);
                    if token.is_some() && token == last_token {
                        error = Some($crate::shape::repeated_token($call));
                        break;
                    }
                    last_token = token;
                    $body
                }
                Some(Err(e)) => {
                    $gate.count();
                    error = Some($crate::error::from_sdk($call, &e));
                    break;
                }
            }
        }
        error
    }};
}
pub(crate) use for_each_page;
