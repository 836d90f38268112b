//! EC2 documents in AWS Config's shape (reference items `AWS_EC2_*.json`) and the edits
//! churn makes to them.

use super::{array_mut, config_str, object_mut, rel, replace_rels, tag_list, Tags, Top};
use crate::ids::{self, iso};
use crate::topology::{Profile, SgTopo, SubnetTopo};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Map, Value};

const IN_VPC: &str = "Is contained in Vpc";
const IN_SUBNET: &str = "Is contained in Subnet";
/// Relationship from an instance or ENI to its security groups.
pub(crate) const WITH_SG: &str = "Is associated with SecurityGroup";
/// Relationship from an instance to its network interfaces.
pub(crate) const HAS_ENI: &str = "Contains NetworkInterface";
/// Relationship from an instance to its volumes.
pub(crate) const HAS_VOLUME: &str = "Is attached to Volume";
const TO_INSTANCE: &str = "Is attached to Instance";

/// Where a resource lives.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub account: &'a str,
    pub region: &'a str,
}

impl At<'_> {
    pub(crate) fn key(&self, resource_type: &str, id: &str) -> ResourceKey {
        ResourceKey::new(self.account, self.region, resource_type, id)
    }

    fn arn(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:{}:{}:{kind}/{id}", self.region, self.account)
    }
}

fn empty() -> Map<String, Value> {
    Map::new()
}

pub(crate) fn vpc(at: At<'_>, id: &str, cidr: &str, dopt: &str, assoc: &str, tags: &Tags) -> Value {
    let configuration = json!({
        "cidrBlock": cidr,
        "dhcpOptionsId": dopt,
        "state": "available",
        "vpcId": id,
        "ownerId": at.account,
        "instanceTenancy": "default",
        "ipv6CidrBlockAssociationSet": [],
        "cidrBlockAssociationSet": [{
            "associationId": assoc,
            "cidrBlock": cidr,
            "cidrBlockState": {"state": "associated", "statusMessage": null},
        }],
        "isDefault": false,
        "tags": tag_list(tags),
    });
    Top {
        arn: at.arn("vpc", id),
        name: None,
        az: "Multiple Availability Zones",
        created: None,
        tags,
        relationships: Vec::new(),
    }
    .build(configuration, empty())
}

pub(crate) fn subnet(
    at: At<'_>,
    vpc_id: &str,
    s: &SubnetTopo,
    cidr: &str,
    free_ips: u32,
    tags: &Tags,
) -> Value {
    let az = ids::az(at.region, s.az_index);
    let arn = at.arn("subnet", &s.id);
    let configuration = json!({
        "availabilityZone": az,
        "availabilityZoneId": ids::az_id(at.region, s.az_index),
        "availableIpAddressCount": free_ips,
        "cidrBlock": cidr,
        "defaultForAz": false,
        "mapPublicIpOnLaunch": s.public,
        "mapCustomerOwnedIpOnLaunch": false,
        "customerOwnedIpv4Pool": null,
        "state": "available",
        "subnetId": s.id,
        "vpcId": vpc_id,
        "ownerId": at.account,
        "assignIpv6AddressOnCreation": false,
        "ipv6CidrBlockAssociationSet": [],
        "tags": tag_list(tags),
        "subnetArn": arn,
        "outpostArn": null,
        "enableDns64": false,
        "ipv6Native": false,
        "privateDnsNameOptionsOnLaunch": {
            "hostnameType": "ip-name",
            "enableResourceNameDnsARecord": false,
            "enableResourceNameDnsAAAARecord": false,
        },
    });
    Top {
        arn,
        name: None,
        az: &az,
        created: None,
        tags,
        relationships: vec![rel(IN_VPC, types::VPC, vpc_id, None)],
    }
    .build(configuration, empty())
}

/// One `ipPermissions` entry. AWS Config lists every range twice: `ipv4Ranges` objects and
/// the flat `ipRanges` strings; protocol `-1` has no ports.
pub(crate) fn perm(
    proto: &str,
    ports: Option<(u16, u16)>,
    v4: &[(&str, Option<&str>)],
    v6: &[&str],
    prefix_lists: &[&str],
    pairs: Vec<Value>,
) -> Value {
    let mut m = Map::new();
    if let Some((from, to)) = ports {
        m.insert("fromPort".into(), from.into());
        m.insert("toPort".into(), to.into());
    }
    m.insert("ipProtocol".into(), proto.into());
    m.insert(
        "ipv6Ranges".into(),
        v6.iter().map(|c| json!({"cidrIpv6": c})).collect(),
    );
    m.insert(
        "prefixListIds".into(),
        prefix_lists
            .iter()
            .map(|p| json!({"prefixListId": p}))
            .collect(),
    );
    m.insert("userIdGroupPairs".into(), Value::Array(pairs));
    m.insert(
        "ipv4Ranges".into(),
        v4.iter()
            .map(|(c, d)| match d {
                Some(d) => json!({"cidrIp": c, "description": d}),
                None => json!({"cidrIp": c}),
            })
            .collect(),
    );
    m.insert(
        "ipRanges".into(),
        v4.iter().map(|(c, _)| json!(c)).collect(),
    );
    Value::Object(m)
}

/// A `userIdGroupPairs` entry.
pub(crate) fn pair(group_id: &str, account: &str, description: Option<&str>) -> Value {
    match description {
        Some(d) => json!({"description": d, "groupId": group_id, "userId": account}),
        None => json!({"groupId": group_id, "userId": account}),
    }
}

/// The only egress rule the simulator uses: everything, anywhere (AWS's default).
fn egress_all() -> Value {
    perm("-1", None, &[("0.0.0.0/0", None)], &[], &[], Vec::new())
}

pub(crate) fn security_group(
    at: At<'_>,
    vpc_id: &str,
    id: &str,
    name: &str,
    description: &str,
    ingress: Vec<Value>,
    tags: &Tags,
) -> Value {
    let configuration = json!({
        "description": description,
        "groupName": name,
        "ipPermissions": ingress,
        "ownerId": at.account,
        "groupId": id,
        "ipPermissionsEgress": [egress_all()],
        "tags": tag_list(tags),
        "vpcId": vpc_id,
    });
    Top {
        arn: at.arn("security-group", id),
        name: Some(name),
        az: "Not Applicable",
        created: None,
        tags,
        relationships: vec![rel(IN_VPC, types::VPC, vpc_id, None)],
    }
    .build(configuration, empty())
}

fn nacl_entry(rule: u32, egress: bool, allow: bool, proto: &str, port: Option<u16>) -> Value {
    json!({
        "cidrBlock": "0.0.0.0/0",
        "egress": egress,
        "icmpTypeCode": null,
        "ipv6CidrBlock": null,
        "portRange": port.map(|p| json!({"from": p, "to": p})),
        "protocol": proto,
        "ruleAction": if allow { "allow" } else { "deny" },
        "ruleNumber": rule,
    })
}

pub(crate) fn network_acl(
    rng: &mut Rng,
    at: At<'_>,
    vpc_id: &str,
    id: &str,
    subnets: &[SubnetTopo],
    tags: &Tags,
) -> Value {
    let blocked = if rng.bool() { 22 } else { 3389 };
    let mut entries = vec![
        nacl_entry(100, true, true, "-1", None),
        nacl_entry(32767, true, false, "-1", None),
        nacl_entry(90, false, false, "6", Some(blocked)),
        nacl_entry(100, false, true, "-1", None),
        nacl_entry(32767, false, false, "-1", None),
    ];
    if rng.u8(..4) == 0 {
        entries.push(nacl_entry(80, false, false, "17", Some(161)));
    }
    let associations: Vec<Value> = subnets
        .iter()
        .map(|s| {
            json!({
                "networkAclAssociationId": ids::ec2_id(rng, "aclassoc"),
                "networkAclId": id,
                "subnetId": s.id,
            })
        })
        .collect();
    let mut relationships: Vec<Value> = subnets
        .iter()
        .map(|s| rel("Is attached to Subnet", types::SUBNET, &s.id, None))
        .collect();
    relationships.push(rel(IN_VPC, types::VPC, vpc_id, None));
    let configuration = json!({
        "associations": associations,
        "entries": entries,
        "isDefault": false,
        "networkAclId": id,
        "tags": tag_list(tags),
        "vpcId": vpc_id,
        "ownerId": at.account,
    });
    Top {
        arn: at.arn("network-acl", id),
        name: None,
        az: "Multiple Availability Zones",
        created: None,
        tags,
        relationships,
    }
    .build(configuration, empty())
}

fn route(dest: &str, gateway: &str, origin: &str) -> Value {
    json!({
        "destinationCidrBlock": dest,
        "destinationIpv6CidrBlock": null,
        "destinationPrefixListId": null,
        "egressOnlyInternetGatewayId": null,
        "gatewayId": gateway,
        "instanceId": null,
        "instanceOwnerId": null,
        "natGatewayId": null,
        "transitGatewayId": null,
        "localGatewayId": null,
        "carrierGatewayId": null,
        "networkInterfaceId": null,
        "origin": origin,
        "state": "active",
        "vpcPeeringConnectionId": null,
    })
}

#[allow(clippy::too_many_arguments)] // reason: one argument per field the table references
pub(crate) fn route_table(
    rng: &mut Rng,
    at: At<'_>,
    vpc_id: &str,
    vpc_cidr: &str,
    id: &str,
    igw_id: &str,
    subnets: &[SubnetTopo],
    tags: &Tags,
) -> Value {
    let assoc = |rng: &mut Rng, main: bool, subnet: Option<&str>| {
        json!({
            "main": main,
            "routeTableAssociationId": ids::ec2_id(rng, "rtbassoc"),
            "routeTableId": id,
            "subnetId": subnet,
            "gatewayId": null,
            "associationState": {"state": "associated", "statusMessage": null},
        })
    };
    let mut associations = vec![assoc(rng, true, None)];
    for s in subnets {
        associations.push(assoc(rng, false, Some(&s.id)));
    }
    let configuration = json!({
        "associations": associations,
        "propagatingVgws": [],
        "routeTableId": id,
        "routes": [
            route(vpc_cidr, "local", "CreateRouteTable"),
            route("0.0.0.0/0", igw_id, "CreateRoute"),
        ],
        "tags": tag_list(tags),
        "vpcId": vpc_id,
        "ownerId": at.account,
    });
    Top {
        arn: at.arn("route-table", id),
        name: None,
        az: "Not Applicable",
        created: None,
        tags,
        relationships: vec![rel(IN_VPC, types::VPC, vpc_id, None)],
    }
    .build(configuration, empty())
}

pub(crate) fn internet_gateway(at: At<'_>, vpc_id: &str, id: &str, tags: &Tags) -> Value {
    let configuration = json!({
        "attachments": [{"state": "available", "vpcId": vpc_id}],
        "internetGatewayId": id,
        "ownerId": at.account,
        "tags": tag_list(tags),
    });
    Top {
        arn: at.arn("internet-gateway", id),
        name: None,
        az: "Multiple Availability Zones",
        created: None,
        tags,
        relationships: vec![rel("Is attached to Vpc", types::VPC, vpc_id, None)],
    }
    .build(configuration, empty())
}

/// The `groups` / `securityGroups` list of an instance or ENI.
pub(crate) fn groups(sgs: &[SgTopo]) -> Value {
    sgs.iter()
        .map(|g| json!({"groupName": g.name, "groupId": g.id}))
        .collect()
}

fn sg_rels(sgs: &[SgTopo]) -> Vec<Value> {
    sgs.iter()
        .map(|g| rel(WITH_SG, types::SECURITY_GROUP, &g.id, None))
        .collect()
}

/// Everything an instance launch needs to know about where it lands.
pub(crate) struct InstanceSpec<'a> {
    pub at: At<'a>,
    pub vpc_id: &'a str,
    pub vpc_octet: u8,
    pub subnet: &'a SubnetTopo,
    pub sgs: &'a [SgTopo],
    pub profile: Option<&'a Profile>,
    pub kms_key: &'a str,
    pub ami: &'a str,
    pub launch_ms: i64,
    pub env: &'a str,
}

const INSTANCE_TYPES: &[(&str, &str, u32, u32)] = &[
    ("t3.micro", "x86_64", 1, 2),
    ("t3.small", "x86_64", 1, 2),
    ("t3.medium", "x86_64", 1, 2),
    ("m5.large", "x86_64", 1, 2),
    ("m6i.xlarge", "x86_64", 2, 2),
    ("c6g.large", "arm64", 2, 1),
    ("r6i.large", "x86_64", 1, 2),
];
const TIERS: &[&str] = &["web", "app", "api", "worker", "batch", "cache", "bastion"];

fn private_dns(region: &str, ip: &str) -> String {
    let dashed = ip.replace('.', "-");
    if region == "us-east-1" {
        format!("ip-{dashed}.ec2.internal")
    } else {
        format!("ip-{dashed}.{region}.compute.internal")
    }
}

fn public_dns(region: &str, ip: &str) -> String {
    let dashed = ip.replace('.', "-");
    if region == "us-east-1" {
        format!("ec2-{dashed}.compute-1.amazonaws.com")
    } else {
        format!("ec2-{dashed}.{region}.compute.amazonaws.com")
    }
}

/// An instance with its primary network interface and root volume, which AWS creates and
/// deletes together; returned in that order.
pub(crate) fn instance_trio(rng: &mut Rng, s: &InstanceSpec<'_>) -> [(ResourceKey, Value); 3] {
    let at = s.at;
    let id = ids::ec2_id(rng, "i");
    let eni = ids::ec2_id(rng, "eni");
    let vol = ids::ec2_id(rng, "vol");
    let attach_id = ids::ec2_id(rng, "eni-attach");
    let az = ids::az(at.region, s.subnet.az_index);
    let ip = format!("10.{}.{}.{}", s.vpc_octet, s.subnet.octet, rng.u8(4..=250));
    let pdns = private_dns(at.region, &ip);
    let public_ip = s.subnet.public.then(|| {
        format!(
            "{}.{}.{}.{}",
            ids::word(rng, &["3", "18", "34", "52", "54"]),
            rng.u8(..),
            rng.u8(..),
            rng.u8(1..=254)
        )
    });
    let pub_dns = public_ip.as_deref().map(|p| public_dns(at.region, p));
    let launch = iso(s.launch_ms);
    let attach = iso(s.launch_ms + 1_000);
    let (itype, arch, cores, threads) =
        *ids::pick(rng, INSTANCE_TYPES).unwrap_or(&INSTANCE_TYPES[0]);
    let name = format!("{}-{}", ids::word(rng, TIERS), ids::hex(rng, 4));
    let tags = super::tags(&[("Name", &name), ("env", s.env)]);
    let mac = ids::mac(rng);
    let groups = groups(s.sgs);
    let ni_assoc = public_ip.as_ref().map(|p| {
        json!({"carrierIp": null, "ipOwnerId": "amazon", "publicDnsName": pub_dns, "publicIp": p})
    });
    let mut c = Map::new();
    let mut put = |v: Value| {
        if let Value::Object(m) = v {
            c.extend(m);
        }
    };
    put(json!({
        "amiLaunchIndex": 0,
        "imageId": s.ami,
        "instanceId": id,
        "instanceType": itype,
        "kernelId": null,
        "keyName": format!("{}-key", s.env),
        "launchTime": launch,
        "monitoring": {"state": if rng.u8(..4) == 0 { "enabled" } else { "disabled" }},
        "placement": {
            "availabilityZone": az,
            "affinity": null,
            "groupName": "",
            "partitionNumber": null,
            "hostId": null,
            "tenancy": "default",
            "spreadDomain": null,
            "hostResourceGroupArn": null,
        },
        "platform": null,
        "privateDnsName": pdns,
        "privateIpAddress": ip,
        "productCodes": [],
        "publicDnsName": pub_dns.clone().unwrap_or_default(),
        "publicIpAddress": public_ip,
        "ramdiskId": null,
        "state": {"code": 16, "name": "running"},
        "stateTransitionReason": "",
        "subnetId": s.subnet.id,
        "vpcId": s.vpc_id,
        "architecture": arch,
    }));
    put(json!({
        "blockDeviceMappings": [{
            "deviceName": "/dev/xvda",
            "ebs": {"attachTime": attach, "deleteOnTermination": true, "status": "attached", "volumeId": vol},
        }],
        "clientToken": ids::uuid(rng),
        "ebsOptimized": true,
        "enaSupport": true,
        "hypervisor": "xen",
        "iamInstanceProfile": s.profile.map(|p| json!({"arn": p.arn, "id": p.id})),
        "instanceLifecycle": null,
        "elasticGpuAssociations": [],
        "elasticInferenceAcceleratorAssociations": [],
        "networkInterfaces": [{
            "association": ni_assoc,
            "attachment": {
                "attachTime": launch,
                "attachmentId": attach_id,
                "deleteOnTermination": true,
                "deviceIndex": 0,
                "status": "attached",
                "networkCardIndex": 0,
            },
            "description": "",
            "groups": groups,
            "ipv6Addresses": [],
            "macAddress": mac,
            "networkInterfaceId": eni,
            "ownerId": at.account,
            "privateDnsName": pdns,
            "privateIpAddress": ip,
            "privateIpAddresses": [{
                "association": ni_assoc,
                "primary": true,
                "privateDnsName": pdns,
                "privateIpAddress": ip,
            }],
            "sourceDestCheck": true,
            "status": "in-use",
            "subnetId": s.subnet.id,
            "vpcId": s.vpc_id,
            "interfaceType": "interface",
        }],
        "outpostArn": null,
        "rootDeviceName": "/dev/xvda",
        "rootDeviceType": "ebs",
        "securityGroups": groups,
        "sourceDestCheck": true,
        "spotInstanceRequestId": null,
        "sriovNetSupport": null,
        "stateReason": null,
        "tags": tag_list(&tags),
        "virtualizationType": "hvm",
    }));
    put(json!({
        "cpuOptions": {"coreCount": cores, "threadsPerCore": threads},
        "capacityReservationId": null,
        "capacityReservationSpecification": {
            "capacityReservationPreference": "open",
            "capacityReservationTarget": null,
        },
        "hibernationOptions": {"configured": false},
        "licenses": [],
        "metadataOptions": {
            "state": "applied",
            "httpTokens": if rng.u8(..3) == 0 { "optional" } else { "required" },
            "httpPutResponseHopLimit": 2,
            "httpEndpoint": "enabled",
            "httpProtocolIpv6": "disabled",
            "instanceMetadataTags": "disabled",
        },
        "enclaveOptions": {"enabled": false},
        "bootMode": null,
        "platformDetails": "Linux/UNIX",
        "usageOperation": "RunInstances",
        "usageOperationUpdateTime": launch,
        "privateDnsNameOptions": {
            "hostnameType": "ip-name",
            "enableResourceNameDnsARecord": false,
            "enableResourceNameDnsAAAARecord": false,
        },
        "ipv6Address": null,
        "tpmSupport": null,
        "maintenanceOptions": {"autoRecovery": "default"},
        "currentInstanceBootMode": "legacy-bios",
    }));
    let mut rels = vec![
        rel(IN_VPC, types::VPC, s.vpc_id, None),
        rel(IN_SUBNET, types::SUBNET, &s.subnet.id, None),
        rel(HAS_ENI, types::NETWORK_INTERFACE, &eni, None),
        rel(HAS_VOLUME, types::VOLUME, &vol, None),
    ];
    rels.extend(sg_rels(s.sgs));
    let instance = Top {
        arn: at.arn("instance", &id),
        name: None,
        az: &az,
        created: Some(launch.clone()),
        tags: &tags,
        relationships: rels,
    }
    .build(Value::Object(c), empty());

    let eni_assoc = public_ip.as_ref().map(|p| {
        json!({
            "allocationId": null,
            "associationId": null,
            "carrierIp": null,
            "customerOwnedIp": null,
            "ipOwnerId": "amazon",
            "publicDnsName": pub_dns,
            "publicIp": p,
        })
    });
    let no_tags = Tags::new();
    let mut eni_rels = vec![
        rel(TO_INSTANCE, types::INSTANCE, &id, None),
        rel(IN_SUBNET, types::SUBNET, &s.subnet.id, None),
        rel(IN_VPC, types::VPC, s.vpc_id, None),
    ];
    eni_rels.extend(sg_rels(s.sgs));
    let eni_doc = Top {
        arn: at.arn("network-interface", &eni),
        name: None,
        az: &az,
        created: None,
        tags: &no_tags,
        relationships: eni_rels,
    }
    .build(
        json!({
            "association": eni_assoc,
            "attachment": {
                "attachTime": launch,
                "attachmentId": attach_id,
                "deleteOnTermination": true,
                "deviceIndex": 0,
                "networkCardIndex": 0,
                "instanceId": id,
                "instanceOwnerId": at.account,
                "status": "attached",
            },
            "availabilityZone": az,
            "description": "",
            "groups": groups,
            "interfaceType": "interface",
            "ipv6Addresses": [],
            "macAddress": mac,
            "networkInterfaceId": eni,
            "outpostArn": null,
            "ownerId": at.account,
            "privateDnsName": pdns,
            "privateIpAddress": ip,
            "privateIpAddresses": [{
                "association": eni_assoc,
                "primary": true,
                "privateDnsName": pdns,
                "privateIpAddress": ip,
            }],
            "ipv4Prefixes": [],
            "ipv6Prefixes": [],
            "requesterId": null,
            "requesterManaged": false,
            "sourceDestCheck": true,
            "status": "in-use",
            "subnetId": s.subnet.id,
            "tagSet": [],
            "vpcId": s.vpc_id,
            "denyAllIgwTraffic": null,
            "ipv6Native": null,
            "ipv6Address": null,
        }),
        empty(),
    );

    let gp3 = rng.u8(..4) != 0;
    let encrypted = rng.u8(..5) != 0;
    let created = iso(s.launch_ms + 800 + i64::from(rng.u16(..200)));
    let vol_tags = super::tags(&[("Name", &format!("{name}-root")), ("env", s.env)]);
    let volume = Top {
        arn: at.arn("volume", &vol),
        name: None,
        az: &az,
        created: Some(created.clone()),
        tags: &vol_tags,
        relationships: vec![rel(TO_INSTANCE, types::INSTANCE, &id, None)],
    }
    .build(
        json!({
            "attachments": [{
                "attachTime": attach,
                "device": "/dev/xvda",
                "instanceId": id,
                "state": "attached",
                "volumeId": vol,
                "deleteOnTermination": true,
            }],
            "availabilityZone": az,
            "createTime": created,
            "encrypted": encrypted,
            "kmsKeyId": encrypted.then_some(s.kms_key),
            "outpostArn": null,
            "size": *ids::pick(rng, &[8, 20, 30, 50, 100, 200]).unwrap_or(&8),
            "snapshotId": ids::ec2_id(rng, "snap"),
            "state": "in-use",
            "volumeId": vol,
            "iops": if gp3 { 3000 } else { 100 },
            "tags": tag_list(&vol_tags),
            "volumeType": if gp3 { "gp3" } else { "gp2" },
            "fastRestored": null,
            "multiAttachEnabled": false,
            "throughput": if gp3 { Some(125) } else { None },
        }),
        empty(),
    );
    [
        (at.key(types::INSTANCE, &id), instance),
        (at.key(types::NETWORK_INTERFACE, &eni), eni_doc),
        (at.key(types::VOLUME, &vol), volume),
    ]
}

// ---- edits -------------------------------------------------------------------------

fn is_tcp_port(p: &Value, port: u16) -> bool {
    p.get("ipProtocol").and_then(Value::as_str) == Some("tcp")
        && p.get("fromPort").and_then(Value::as_u64) == Some(u64::from(port))
        && p.get("toPort").and_then(Value::as_u64) == Some(u64::from(port))
}

/// Allows TCP `port` from `cidr`, merging into the existing permission for that port as
/// AWS does. False when the rule is already there.
pub(crate) fn sg_authorize(
    v: &mut Value,
    port: u16,
    cidr: &str,
    description: Option<&str>,
) -> bool {
    let Some(perms) = array_mut(v, &["configuration", "ipPermissions"]) else {
        return false;
    };
    let Some(p) = perms.iter_mut().find(|p| is_tcp_port(p, port)) else {
        perms.push(perm(
            "tcp",
            Some((port, port)),
            &[(cidr, description)],
            &[],
            &[],
            Vec::new(),
        ));
        return true;
    };
    let Some(flat) = array_mut(p, &["ipRanges"]) else {
        return false;
    };
    if flat.iter().any(|c| c.as_str() == Some(cidr)) {
        return false;
    }
    flat.push(json!(cidr));
    if let Some(v4) = array_mut(p, &["ipv4Ranges"]) {
        v4.push(match description {
            Some(d) => json!({"cidrIp": cidr, "description": d}),
            None => json!({"cidrIp": cidr}),
        });
    }
    true
}

/// Revokes TCP `port` from `cidr`, dropping the permission when nothing is left in it.
pub(crate) fn sg_revoke(v: &mut Value, port: u16, cidr: &str) -> bool {
    let Some(perms) = array_mut(v, &["configuration", "ipPermissions"]) else {
        return false;
    };
    let Some(i) = perms.iter().position(|p| {
        is_tcp_port(p, port)
            && p.get("ipRanges")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|c| c.as_str() == Some(cidr)))
    }) else {
        return false;
    };
    let Some(p) = perms.get_mut(i) else {
        return false;
    };
    if let Some(flat) = array_mut(p, &["ipRanges"]) {
        flat.retain(|c| c.as_str() != Some(cidr));
    }
    if let Some(v4) = array_mut(p, &["ipv4Ranges"]) {
        v4.retain(|r| r.get("cidrIp").and_then(Value::as_str) != Some(cidr));
    }
    let sources = [
        "ipRanges",
        "ipv6Ranges",
        "prefixListIds",
        "userIdGroupPairs",
    ];
    let has = |k: &&str| {
        p.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let empty = !sources.iter().any(has);
    if empty {
        perms.remove(i);
    }
    true
}

/// Removes ingress permission number `r` (modulo their count); false when there is none.
pub(crate) fn sg_revoke_any(v: &mut Value, r: usize) -> bool {
    match array_mut(v, &["configuration", "ipPermissions"]) {
        Some(perms) if !perms.is_empty() => {
            let i = r % perms.len();
            perms.remove(i);
            true
        }
        _ => false,
    }
}

/// Sets an instance's or ENI's security groups (configuration and relationships).
pub(crate) fn set_groups(v: &mut Value, resource_type: &str, sgs: &[SgTopo]) -> bool {
    let list = groups(sgs);
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    if resource_type == types::INSTANCE {
        c.insert("securityGroups".into(), list.clone());
        if let Some(nis) = c.get_mut("networkInterfaces").and_then(Value::as_array_mut) {
            for ni in nis.iter_mut().filter_map(Value::as_object_mut) {
                ni.insert("groups".into(), list.clone());
            }
        }
    } else {
        c.insert("groups".into(), list);
    }
    replace_rels(v, WITH_SG, sg_rels(sgs))
}

/// The security group ids an instance or ENI document lists.
pub(crate) fn group_ids(v: &Value) -> Vec<String> {
    let mut ids = super::related(v, WITH_SG);
    ids.sort();
    ids
}

/// Adds `delta` to a subnet's free address count (a volatile field), within 0..=251.
pub(crate) fn adjust_free_ips(v: &mut Value, delta: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let Some(n) = c.get("availableIpAddressCount").and_then(Value::as_i64) else {
        return false;
    };
    let next = (n + delta).clamp(0, 251);
    c.insert("availableIpAddressCount".into(), next.into());
    next != n
}

/// The subnet id of an instance document.
pub(crate) fn subnet_of(v: &Value) -> Option<&str> {
    config_str(v, "subnetId")
}

/// The id, primary ENI and private address of an instance document, read back for the
/// service types that attach to instances (EIPs).
pub(crate) fn instance_ref(v: &Value) -> Option<crate::topology::InstanceRef> {
    let c = v.get("configuration")?;
    Some(crate::topology::InstanceRef {
        id: c.get("instanceId")?.as_str()?.to_string(),
        eni: super::related(v, HAS_ENI).into_iter().next()?,
        private_ip: c.get("privateIpAddress")?.as_str()?.to_string(),
    })
}
