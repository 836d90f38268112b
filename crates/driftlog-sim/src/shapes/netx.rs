//! The VPC's service resources in AWS Config's shape (reference items
//! `AWS_EC2_{NatGateway,EIP,VPCEndpoint,FlowLog}.json`): the Java bean's camelCase, times as
//! epoch milliseconds, `state` a plain string, nulls kept except the NAT gateway's unset
//! members, which AWS Config omits.

use super::svc::Svc;
use super::{object_mut, rel, replace_rels, tag_list, Tags, Top};
use crate::ids::{self, iso};
use crate::topology::{SgTopo, SubnetTopo};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Map, Value};

const IN_VPC: &str = "Is contained in Vpc";
const IN_SUBNET: &str = "Is contained in Subnet";
const TO_SUBNET: &str = "Is attached to Subnet";
/// Relationship from an EIP to the instance it is associated with.
pub(crate) const TO_INSTANCE: &str = "Is attached to Instance";
/// Relationship from an EIP to the network interface it is associated with.
pub(crate) const TO_ENI: &str = "Is attached to NetworkInterface";
const WITH_SG: &str = "Is associated with SecurityGroup";
const WITH_RTB: &str = "Is associated with RouteTable";

fn ec2_arn(at: Svc<'_>, kind: &str, id: &str) -> String {
    at.arn("ec2", &format!("{kind}/{id}"))
}

/// A public address from the documentation and AWS ranges.
pub(crate) fn public_ip(rng: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        ids::word(rng, &["3", "18", "34", "52", "54"]),
        rng.u8(..),
        rng.u8(..),
        rng.u8(1..=254)
    )
}

/// What a NAT gateway needs: where it sits and the EIP it holds.
pub(crate) struct NatSpec<'a> {
    pub id: &'a str,
    pub vpc_id: &'a str,
    pub subnet: &'a SubnetTopo,
    pub vpc_octet: u8,
    pub allocation_id: &'a str,
    pub public_ip: &'a str,
    pub created_ms: i64,
}

pub(crate) fn nat_gateway(
    rng: &mut Rng,
    at: Svc<'_>,
    n: &NatSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let created = n.created_ms.div_euclid(1000) * 1000;
    let configuration = json!({
        "createTime": created,
        "natGatewayAddresses": [{
            "allocationId": n.allocation_id,
            "networkInterfaceId": ids::ec2_id(rng, "eni"),
            "privateIp": format!("10.{}.{}.{}", n.vpc_octet, n.subnet.octet, rng.u8(4..=250)),
            "publicIp": n.public_ip,
        }],
        "natGatewayId": n.id,
        "state": "available",
        "subnetId": n.subnet.id,
        "vpcId": n.vpc_id,
        "tags": tag_list(tags),
        "connectivityType": "public",
    });
    let doc = Top {
        arn: ec2_arn(at, "natgateway", n.id),
        name: None,
        az: "Not Applicable",
        created: Some(iso(created)),
        tags,
        relationships: vec![
            rel(IN_VPC, types::VPC, n.vpc_id, None),
            rel(TO_SUBNET, types::SUBNET, &n.subnet.id, None),
        ],
    }
    .build(configuration, Map::new());
    (at.key(types::NAT_GATEWAY, n.id), doc)
}

/// Where an EIP is associated: an instance's primary ENI, or a NAT gateway's ENI (not a
/// recorded resource, so no edge to it).
pub(crate) enum EipTarget<'a> {
    Instance {
        id: &'a str,
        eni: &'a str,
        private_ip: &'a str,
    },
    Nat {
        eni: &'a str,
        private_ip: &'a str,
    },
    None,
}

pub(crate) fn eip(
    rng: &mut Rng,
    at: Svc<'_>,
    allocation_id: &str,
    public_ip: &str,
    target: &EipTarget<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let mut c = Map::new();
    c.insert("instanceId".into(), Value::Null);
    c.insert("publicIp".into(), public_ip.into());
    c.insert("allocationId".into(), allocation_id.into());
    for k in [
        "associationId",
        "domain",
        "networkInterfaceId",
        "networkInterfaceOwnerId",
        "privateIpAddress",
    ] {
        c.insert(k.into(), Value::Null);
    }
    c.insert("domain".into(), "vpc".into());
    c.insert("tags".into(), tag_list(tags));
    c.insert("publicIpv4Pool".into(), "amazon".into());
    c.insert("networkBorderGroup".into(), at.region.into());
    c.insert("customerOwnedIp".into(), Value::Null);
    c.insert("customerOwnedIpv4Pool".into(), Value::Null);
    c.insert("carrierIp".into(), Value::Null);
    let mut doc = Top {
        arn: ec2_arn(at, "eip-allocation", allocation_id),
        name: Some(public_ip),
        az: "Not Applicable",
        created: None,
        tags,
        relationships: Vec::new(),
    }
    .build(Value::Object(c), Map::new());
    associate(rng, &mut doc, at.account, target);
    (at.key(types::EIP, allocation_id), doc)
}

/// Associates an EIP with `target` (or disassociates it, `EipTarget::None`), in its
/// configuration and its relationships. False when it is already in that state.
pub(crate) fn associate(
    rng: &mut Rng,
    v: &mut Value,
    account: &str,
    target: &EipTarget<'_>,
) -> bool {
    let (instance, eni, ip) = match target {
        EipTarget::Instance {
            id,
            eni,
            private_ip,
        } => (Some(*id), Some(*eni), Some(*private_ip)),
        EipTarget::Nat { eni, private_ip } => (None, Some(*eni), Some(*private_ip)),
        EipTarget::None => (None, None, None),
    };
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    if c.get("networkInterfaceId").and_then(Value::as_str) == eni
        && c.get("instanceId").and_then(Value::as_str) == instance
    {
        return false;
    }
    let assoc = eni.map(|_| ids::ec2_id(rng, "eipassoc"));
    c.insert("instanceId".into(), json!(instance));
    c.insert("associationId".into(), json!(assoc));
    c.insert("networkInterfaceId".into(), json!(eni));
    c.insert(
        "networkInterfaceOwnerId".into(),
        json!(eni.map(|_| account)),
    );
    c.insert("privateIpAddress".into(), json!(ip));
    let mut rels = Vec::new();
    if let (Some(i), Some(e)) = (instance, eni) {
        rels.push(rel(TO_INSTANCE, types::INSTANCE, i, None));
        rels.push(rel(TO_ENI, types::NETWORK_INTERFACE, e, None));
    }
    replace_rels(v, TO_INSTANCE, Vec::new()) && replace_rels(v, TO_ENI, rels)
}

/// What a VPC endpoint needs.
pub(crate) struct EndpointSpec<'a> {
    pub id: &'a str,
    pub vpc_id: &'a str,
    /// `s3`, `dynamodb` (gateway endpoints) or an interface service (`secretsmanager`).
    pub service: &'a str,
    pub rtb: &'a str,
    pub subnets: &'a [&'a SubnetTopo],
    pub sg: Option<&'a SgTopo>,
    pub created_ms: i64,
}

const FULL_ACCESS: &str =
    "{\"Version\":\"2008-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\"}]}";

pub(crate) fn vpc_endpoint(
    rng: &mut Rng,
    at: Svc<'_>,
    e: &EndpointSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let gateway = matches!(e.service, "s3" | "dynamodb");
    let service = format!("com.amazonaws.{}.{}", at.region, e.service);
    let mut rels = vec![rel(IN_VPC, types::VPC, e.vpc_id, None)];
    // A gateway endpoint is a route in the route table; an interface endpoint has an ENI
    // and DNS names per subnet.
    let mut rtbs: Vec<&str> = Vec::new();
    let mut subnets: Vec<&str> = Vec::new();
    let mut groups: Vec<Value> = Vec::new();
    let mut enis: Vec<String> = Vec::new();
    let mut dns: Vec<Value> = Vec::new();
    if gateway {
        rels.push(rel(WITH_RTB, types::ROUTE_TABLE, e.rtb, None));
        rtbs.push(e.rtb);
    } else {
        let host = format!("{}-{}", e.id, ids::hex(rng, 8));
        let zone = "Z2LGFWPV2YSKM5";
        dns.push(json!({
            "dnsName": format!("{host}.{}.{}.vpce.amazonaws.com", e.service, at.region),
            "hostedZoneId": zone,
        }));
        for s in e.subnets {
            rels.push(rel(IN_SUBNET, types::SUBNET, &s.id, None));
            subnets.push(&s.id);
            enis.push(ids::ec2_id(rng, "eni"));
            dns.push(json!({
                "dnsName": format!("{host}-{}.{}.{}.vpce.amazonaws.com",
                    ids::az(at.region, s.az_index), e.service, at.region),
                "hostedZoneId": zone,
            }));
        }
        dns.push(json!({
            "dnsName": format!("{}.{}.amazonaws.com", e.service, at.region),
            "hostedZoneId": format!("Z{}", ids::hex(rng, 20).to_ascii_uppercase()),
        }));
        if let Some(g) = e.sg {
            rels.push(rel(WITH_SG, types::SECURITY_GROUP, &g.id, None));
            groups.push(json!({"groupId": g.id, "groupName": g.name}));
        }
    }
    let configuration = json!({
        "vpcEndpointId": e.id,
        "vpcEndpointType": if gateway { "Gateway" } else { "Interface" },
        "vpcId": e.vpc_id,
        "serviceName": service,
        "state": "available",
        "policyDocument": FULL_ACCESS,
        "routeTableIds": rtbs,
        "subnetIds": subnets,
        "groups": groups,
        "ipAddressType": "ipv4",
        "dnsOptions": {"dnsRecordIpType": if gateway { Value::Null } else { json!("ipv4") }},
        "privateDnsEnabled": !gateway,
        "requesterManaged": false,
        "networkInterfaceIds": enis,
        "dnsEntries": dns,
        "creationTimestamp": e.created_ms,
        "tags": tag_list(tags),
        "ownerId": at.account,
        "lastError": null,
    });
    let doc = Top {
        arn: ec2_arn(at, "vpc-endpoint", e.id),
        name: None,
        az: "Not Applicable",
        created: Some(iso(e.created_ms)),
        tags,
        relationships: rels,
    }
    .build(configuration, Map::new());
    (at.key(types::VPC_ENDPOINT, e.id), doc)
}

/// What a VPC flow log needs.
pub(crate) struct FlowLogSpec<'a> {
    pub id: &'a str,
    pub vpc_id: &'a str,
    /// The S3 bucket it delivers to, or `None` for CloudWatch Logs with `role`.
    pub bucket: Option<&'a str>,
    pub role_arn: &'a str,
    pub created_ms: i64,
}

const LOG_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

pub(crate) fn flow_log(
    rng: &mut Rng,
    at: Svc<'_>,
    f: &FlowLogSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let (kind, dest, group, role, options) = match f.bucket {
        Some(b) => (
            "s3",
            format!("arn:aws:s3:::{b}/vpc/"),
            None,
            None,
            json!({"fileFormat": "plain-text", "hiveCompatiblePartitions": false, "perHourPartition": false}),
        ),
        None => {
            let group = format!("/vpc/flow-logs/{}", f.vpc_id);
            (
                "cloud-watch-logs",
                at.arn("logs", &format!("log-group:{group}")),
                Some(group),
                Some(f.role_arn),
                Value::Null,
            )
        }
    };
    let configuration = json!({
        "creationTime": f.created_ms,
        "deliverLogsErrorMessage": null,
        "deliverLogsPermissionArn": role,
        "deliverLogsStatus": "SUCCESS",
        "flowLogId": f.id,
        "flowLogStatus": "ACTIVE",
        "logGroupName": group,
        "resourceId": f.vpc_id,
        "trafficType": ids::word(rng, &["ALL", "ALL", "REJECT"]),
        "logDestinationType": kind,
        "logDestination": dest,
        "logFormat": LOG_FORMAT,
        "tags": tag_list(tags),
        "maxAggregationInterval": if rng.bool() { 600 } else { 60 },
        "destinationOptions": options,
    });
    let doc = Top {
        arn: ec2_arn(at, "flow-log", f.id),
        name: None,
        az: "Not Applicable",
        created: Some(iso(f.created_ms)),
        tags,
        relationships: Vec::new(),
    }
    .build(configuration, Map::new());
    (at.key(types::FLOW_LOG, f.id), doc)
}
