//! The EC2 network types of the second wave: NAT gateways, Elastic IPs, VPC endpoints and
//! flow logs, shaped as AWS Config records them (Java-bean camelCase of the SDK v1 members,
//! tags as `[{key, value}]`, `state` a plain string, times inside `configuration` as epoch
//! milliseconds for these newer types). Resources in state `deleted` are gone for AWS
//! Config: they are left out, so that their deletion is recorded.

use crate::reads::{call, epoch_ms, opt_str, wanted};
use crate::shape::{dedup, for_each_page, iso_str, partition, rel, tag_pairs, Listing};
use crate::{RegionClients, Service};
use aws_sdk_ec2::types::{Filter, Tag};
use driftlog_model::Document;
use driftlog_poll::PollError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// AWS Config type names.
pub(crate) const NAT_GATEWAY: &str = "AWS::EC2::NatGateway";
pub(crate) const EIP: &str = "AWS::EC2::EIP";
pub(crate) const VPC_ENDPOINT: &str = "AWS::EC2::VPCEndpoint";
pub(crate) const FLOW_LOG: &str = "AWS::EC2::FlowLog";
pub(crate) const TYPES: &[&str] = &[NAT_GATEWAY, EIP, VPC_ENDPOINT, FLOW_LOG];

const VPC: &str = "AWS::EC2::VPC";
const SUBNET: &str = "AWS::EC2::Subnet";

/// EC2's limit on the values of one filter.
const MAX_FILTER_VALUES: usize = 200;

/// Lists one of these types in one region; `ids` narrows it with filters (a resource gone
/// since is simply absent), in chunks of EC2's 200 values per filter.
pub(crate) async fn list(
    c: &RegionClients,
    resource_type: &str,
    ids: Option<&[String]>,
) -> Listing {
    match ids {
        Some(ids) if ids.len() > MAX_FILTER_VALUES => {
            let mut out = Listing::default();
            for chunk in ids.chunks(MAX_FILTER_VALUES) {
                let l = list_one(c, resource_type, Some(chunk)).await;
                out.resources.extend(l.resources);
                if let Some(e) = l.error {
                    out.fail(e);
                }
            }
            out
        }
        _ => list_one(c, resource_type, ids).await,
    }
}

async fn list_one(c: &RegionClients, resource_type: &str, ids: Option<&[String]>) -> Listing {
    match resource_type {
        NAT_GATEWAY => nat_gateways(c, ids).await,
        EIP => addresses(c, ids).await,
        VPC_ENDPOINT => vpc_endpoints(c, ids).await,
        FLOW_LOG => flow_logs(c, ids).await,
        other => {
            let mut l = Listing::default();
            l.fail(PollError::Source {
                code: "UnsupportedResourceType".into(),
                message: format!("{other} is not an EC2 type this source records"),
            });
            l
        }
    }
}

fn id_filter(name: &str, ids: Option<&[String]>) -> Option<Vec<Filter>> {
    ids.map(|ids| {
        vec![Filter::builder()
            .name(name)
            .set_values(Some(ids.to_vec()))
            .build()]
    })
}

fn tags(t: &[Tag]) -> (Value, BTreeMap<String, String>) {
    tag_pairs(
        t.iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    )
}

fn arn(c: &RegionClients, kind: &str, id: &str) -> String {
    format!(
        "arn:{}:ec2:{}:{}:{kind}/{id}",
        partition(&c.region),
        c.region,
        c.account
    )
}

async fn nat_gateways(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_nat_gateways()
        .set_filter(id_filter("nat-gateway-id", ids))
        .max_results(1000);
    let err = for_each_page!(
        c.gate(Service::Ec2),
        "ec2:DescribeNatGateways",
        req,
        |page| {
            for n in page.nat_gateways() {
                if n.state().is_some_and(|s| s.as_str() == "deleted") {
                    continue;
                }
                let id = n.nat_gateway_id().unwrap_or_default();
                let (tag_list, tag_map) = tags(n.tags());
                let mut conf = Map::new();
                conf.insert("createTime".into(), epoch_ms(n.create_time()));
                // Both real items omit these when unset (unlike the other bean types).
                if let Some(t) = n.delete_time() {
                    conf.insert("deleteTime".into(), epoch_ms(Some(t)));
                }
                if let Some(f) = n.failure_code() {
                    conf.insert("failureCode".into(), json!(f));
                }
                if let Some(f) = n.failure_message() {
                    conf.insert("failureMessage".into(), json!(f));
                }
                conf.insert(
                    "natGatewayAddresses".into(),
                    n.nat_gateway_addresses()
                        .iter()
                        .map(|a| {
                            json!({
                                "allocationId": a.allocation_id(),
                                "networkInterfaceId": id_of(a.network_interface_id()),
                                "privateIp": a.private_ip(),
                                "publicIp": a.public_ip(),
                            })
                        })
                        .collect(),
                );
                conf.insert("natGatewayId".into(), json!(id));
                if let Some(p) = n.provisioned_bandwidth() {
                    conf.insert(
                        "provisionedBandwidth".into(),
                        json!({
                            "provisionTime": epoch_ms(p.provision_time()),
                            "provisioned": p.provisioned(),
                            "requestTime": epoch_ms(p.request_time()),
                            "requested": p.requested(),
                            "status": p.status(),
                        }),
                    );
                }
                conf.insert("state".into(), opt_str(n.state().map(|s| s.as_str())));
                conf.insert("subnetId".into(), json!(n.subnet_id()));
                conf.insert("vpcId".into(), json!(n.vpc_id()));
                conf.insert("tags".into(), tag_list);
                conf.insert(
                    "connectivityType".into(),
                    opt_str(n.connectivity_type().map(|t| t.as_str())),
                );
                let mut rels = Vec::new();
                if let Some(v) = n.vpc_id() {
                    rels.push(rel("Is contained in Vpc", VPC, v));
                }
                if let Some(s) = n.subnet_id() {
                    rels.push(rel("Is attached to Subnet", SUBNET, s));
                }
                let doc = Document {
                    arn: Some(arn(c, "natgateway", id)),
                    resource_name: None,
                    availability_zone: Some("Not Applicable".into()),
                    resource_creation_time: n.create_time().map(iso_str),
                    tags: tag_map,
                    relationships: dedup(rels),
                    configuration: Value::Object(conf),
                    supplementary_configuration: Map::new(),
                };
                out.add(&c.account, &c.region, NAT_GATEWAY, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

/// An id of an association, absent when empty: AWS omits the members of an unassociated
/// address, moto answers them as "".
fn id_of(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty())
}

/// DescribeAddresses has no pages: one request answers for the whole region.
async fn addresses(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let page = match call(
        c.gate(Service::Ec2),
        "ec2:DescribeAddresses",
        c.ec2
            .describe_addresses()
            .set_filters(id_filter("allocation-id", ids))
            .send(),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            out.fail(e);
            return out;
        }
    };
    for a in page.addresses() {
        let id = a.allocation_id().unwrap_or_default();
        let (tag_list, tag_map) = tags(a.tags());
        let configuration = json!({
            "instanceId": id_of(a.instance_id()),
            "publicIp": a.public_ip(),
            "allocationId": a.allocation_id(),
            "associationId": id_of(a.association_id()),
            "domain": opt_str(a.domain().map(|d| d.as_str())),
            "networkInterfaceId": id_of(a.network_interface_id()),
            "networkInterfaceOwnerId": id_of(a.network_interface_owner_id()),
            "privateIpAddress": id_of(a.private_ip_address()),
            "tags": tag_list,
            "publicIpv4Pool": a.public_ipv4_pool(),
            "networkBorderGroup": a.network_border_group(),
            "customerOwnedIp": a.customer_owned_ip(),
            "customerOwnedIpv4Pool": a.customer_owned_ipv4_pool(),
            "carrierIp": a.carrier_ip(),
        });
        let mut rels = Vec::new();
        if let Some(i) = id_of(a.instance_id()) {
            rels.push(rel("Is attached to Instance", "AWS::EC2::Instance", i));
        }
        if let Some(e) = id_of(a.network_interface_id()) {
            rels.push(rel(
                "Is attached to NetworkInterface",
                "AWS::EC2::NetworkInterface",
                e,
            ));
        }
        let doc = Document {
            arn: Some(arn(c, "eip-allocation", id)),
            resource_name: a.public_ip().map(str::to_string),
            availability_zone: Some("Not Applicable".into()),
            resource_creation_time: None,
            tags: tag_map,
            relationships: dedup(rels),
            configuration,
            supplementary_configuration: Map::new(),
        };
        out.add(&c.account, &c.region, EIP, id, &doc);
    }
    out
}

async fn vpc_endpoints(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    // Narrowed after listing, not by the `vpc-endpoint-id` filter: moto does not implement
    // that filter, and an id list fails whole on one endpoint gone. Endpoints are few.
    let req = c.ec2.describe_vpc_endpoints().max_results(1000);
    let err = for_each_page!(
        c.gate(Service::Ec2),
        "ec2:DescribeVpcEndpoints",
        req,
        |page| {
            for v in page.vpc_endpoints() {
                let state = v.state().map(|s| s.as_str().to_ascii_lowercase());
                if state.as_deref() == Some("deleted")
                    || !wanted(ids, v.vpc_endpoint_id().unwrap_or_default())
                {
                    continue;
                }
                let id = v.vpc_endpoint_id().unwrap_or_default();
                let (tag_list, tag_map) = tags(v.tags());
                let configuration = json!({
                    "vpcEndpointId": id,
                    "vpcEndpointType": opt_str(v.vpc_endpoint_type().map(|t| t.as_str())),
                    "vpcId": v.vpc_id(),
                    "serviceName": v.service_name(),
                    "state": opt_str(v.state().map(|s| s.as_str())),
                    "policyDocument": v.policy_document(),
                    "routeTableIds": v.route_table_ids(),
                    "subnetIds": v.subnet_ids(),
                    "groups": v.groups().iter().map(|g| json!({"groupId": g.group_id(), "groupName": g.group_name()})).collect::<Value>(),
                    "ipAddressType": opt_str(v.ip_address_type().map(|t| t.as_str())),
                    "dnsOptions": v.dns_options().map(|d| json!({"dnsRecordIpType": opt_str(d.dns_record_ip_type().map(|t| t.as_str()))})),
                    "privateDnsEnabled": v.private_dns_enabled(),
                    "requesterManaged": v.requester_managed(),
                    "networkInterfaceIds": v.network_interface_ids(),
                    "dnsEntries": v.dns_entries().iter().map(|d| json!({"dnsName": d.dns_name(), "hostedZoneId": d.hosted_zone_id()})).collect::<Value>(),
                    "creationTimestamp": epoch_ms(v.creation_timestamp()),
                    "tags": tag_list,
                    "ownerId": v.owner_id(),
                    "lastError": v.last_error().map(|e| json!({"message": e.message(), "code": e.code()})),
                });
                let mut rels = Vec::new();
                if let Some(x) = v.vpc_id() {
                    rels.push(rel("Is contained in Vpc", VPC, x));
                }
                for s in v.subnet_ids() {
                    rels.push(rel("Is contained in Subnet", SUBNET, s));
                }
                for g in v.groups() {
                    if let Some(g) = g.group_id() {
                        rels.push(rel(
                            "Is associated with SecurityGroup",
                            "AWS::EC2::SecurityGroup",
                            g,
                        ));
                    }
                }
                for e in v.network_interface_ids() {
                    rels.push(rel(
                        "Contains NetworkInterface",
                        "AWS::EC2::NetworkInterface",
                        e,
                    ));
                }
                for r in v.route_table_ids() {
                    rels.push(rel(
                        "Is associated with RouteTable",
                        "AWS::EC2::RouteTable",
                        r,
                    ));
                }
                let doc = Document {
                    arn: Some(arn(c, "vpc-endpoint", id)),
                    resource_name: None,
                    availability_zone: Some("Not Applicable".into()),
                    resource_creation_time: v.creation_timestamp().map(iso_str),
                    tags: tag_map,
                    relationships: dedup(rels),
                    configuration,
                    supplementary_configuration: Map::new(),
                };
                out.add(&c.account, &c.region, VPC_ENDPOINT, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

async fn flow_logs(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_flow_logs()
        .set_filter(id_filter("flow-log-id", ids))
        .max_results(1000);
    let err = for_each_page!(c.gate(Service::Ec2), "ec2:DescribeFlowLogs", req, |page| {
        for f in page.flow_logs() {
            let id = f.flow_log_id().unwrap_or_default();
            let (tag_list, tag_map) = tags(f.tags());
            let configuration = json!({
                "creationTime": epoch_ms(f.creation_time()),
                "deliverLogsErrorMessage": f.deliver_logs_error_message(),
                "deliverLogsPermissionArn": f.deliver_logs_permission_arn(),
                "deliverLogsStatus": f.deliver_logs_status(),
                "flowLogId": id,
                "flowLogStatus": f.flow_log_status(),
                "logGroupName": f.log_group_name(),
                "resourceId": f.resource_id(),
                "trafficType": opt_str(f.traffic_type().map(|t| t.as_str())),
                "logDestinationType": opt_str(f.log_destination_type().map(|t| t.as_str())),
                "logDestination": f.log_destination(),
                "logFormat": f.log_format(),
                "tags": tag_list,
                "maxAggregationInterval": f.max_aggregation_interval(),
                "destinationOptions": f.destination_options().map(|d| json!({
                    "fileFormat": opt_str(d.file_format().map(|x| x.as_str())),
                    "hiveCompatiblePartitions": d.hive_compatible_partitions(),
                    "perHourPartition": d.per_hour_partition(),
                })),
            });
            let doc = Document {
                // RDK's form (`flow-log/`); EC2's own ARNs say `vpc-flow-log/`.
                arn: Some(arn(c, "flow-log", id)),
                resource_name: None,
                availability_zone: Some("Not Applicable".into()),
                resource_creation_time: f.creation_time().map(iso_str),
                tags: tag_map,
                // None in the real item: the watched resource is only `resourceId`.
                relationships: Vec::new(),
                configuration,
                supplementary_configuration: Map::new(),
            };
            out.add(&c.account, &c.region, FLOW_LOG, id, &doc);
        }
    });
    out.ended_by(err)
}
