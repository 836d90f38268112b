//! EC2 resource types, shaped as AWS Config records them (../shared/spec/ci-shapes): the
//! Describe output with camelCase keys, tags as `[{key, value}]`, enums as strings, times
//! in ISO 8601 with milliseconds, and AWS Config's relationship names.

use crate::shape::{dedup, for_each_page, iso, partition, rel, tag_pairs, Listing};
use crate::RegionClients;
use crate::Service;
use aws_sdk_ec2::types::{Filter, GroupIdentifier, Tag};
use driftlog_model::{Document, Relationship};
use serde_json::{json, Map, Value};

/// AWS Config type names of the EC2 types this source records.
pub(crate) const SECURITY_GROUP: &str = "AWS::EC2::SecurityGroup";
pub(crate) const NETWORK_ACL: &str = "AWS::EC2::NetworkAcl";
pub(crate) const VPC: &str = "AWS::EC2::VPC";
pub(crate) const SUBNET: &str = "AWS::EC2::Subnet";
pub(crate) const INSTANCE: &str = "AWS::EC2::Instance";
pub(crate) const NETWORK_INTERFACE: &str = "AWS::EC2::NetworkInterface";
pub(crate) const ROUTE_TABLE: &str = "AWS::EC2::RouteTable";
pub(crate) const INTERNET_GATEWAY: &str = "AWS::EC2::InternetGateway";
pub(crate) const VOLUME: &str = "AWS::EC2::Volume";

/// Every EC2 type, in polling order.
pub(crate) const TYPES: &[&str] = &[
    VPC,
    SUBNET,
    SECURITY_GROUP,
    NETWORK_ACL,
    ROUTE_TABLE,
    INTERNET_GATEWAY,
    INSTANCE,
    NETWORK_INTERFACE,
    VOLUME,
];

const IN_VPC: &str = "Is contained in Vpc";
const IN_SUBNET: &str = "Is contained in Subnet";
const WITH_SG: &str = "Is associated with SecurityGroup";

/// Lists one EC2 type in one region; `ids` narrows it to some resources (a describe), using
/// filters rather than id lists so that a resource gone since is simply absent.
pub(crate) async fn list(
    c: &RegionClients,
    resource_type: &str,
    ids: Option<&[String]>,
) -> Listing {
    match ids {
        // EC2 takes at most 200 values per filter: describe in chunks.
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

/// EC2's limit on the values of one filter.
const MAX_FILTER_VALUES: usize = 200;

async fn list_one(c: &RegionClients, resource_type: &str, ids: Option<&[String]>) -> Listing {
    match resource_type {
        SECURITY_GROUP => security_groups(c, ids).await,
        NETWORK_ACL => network_acls(c, ids).await,
        VPC => vpcs(c, ids).await,
        SUBNET => subnets(c, ids).await,
        INSTANCE => instances(c, ids).await,
        NETWORK_INTERFACE => network_interfaces(c, ids).await,
        ROUTE_TABLE => route_tables(c, ids).await,
        INTERNET_GATEWAY => internet_gateways(c, ids).await,
        VOLUME => volumes(c, ids).await,
        other => {
            let mut l = Listing::default();
            l.fail(driftlog_poll::PollError::Source {
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

fn s<T: AsRef<str>>(v: Option<&T>) -> Value {
    match v {
        Some(v) => Value::String(v.as_ref().to_string()),
        None => Value::Null,
    }
}

fn tags(t: &[Tag]) -> (Value, std::collections::BTreeMap<String, String>) {
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

fn groups(g: &[GroupIdentifier]) -> Value {
    g.iter()
        .map(|g| json!({"groupName": g.group_name(), "groupId": g.group_id()}))
        .collect()
}

/// Inserts `key: value` only when the value is present (AWS Config omits, e.g., the ports
/// of an all-protocols rule and the description of a range without one).
fn put_some(m: &mut Map<String, Value>, key: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(key.to_string(), v.into());
    }
}

fn permissions(perms: &[aws_sdk_ec2::types::IpPermission]) -> Value {
    perms
        .iter()
        .map(|p| {
            let mut m = Map::new();
            put_some(&mut m, "fromPort", p.from_port());
            m.insert("ipProtocol".into(), json!(p.ip_protocol()));
            m.insert(
                "ipv6Ranges".into(),
                p.ipv6_ranges()
                    .iter()
                    .map(|r| {
                        let mut m = Map::new();
                        m.insert("cidrIpv6".into(), json!(r.cidr_ipv6()));
                        put_some(&mut m, "description", r.description());
                        Value::Object(m)
                    })
                    .collect(),
            );
            m.insert(
                "prefixListIds".into(),
                p.prefix_list_ids()
                    .iter()
                    .map(|r| {
                        let mut m = Map::new();
                        put_some(&mut m, "description", r.description());
                        m.insert("prefixListId".into(), json!(r.prefix_list_id()));
                        Value::Object(m)
                    })
                    .collect(),
            );
            put_some(&mut m, "toPort", p.to_port());
            m.insert(
                "userIdGroupPairs".into(),
                p.user_id_group_pairs()
                    .iter()
                    .map(|u| {
                        let mut m = Map::new();
                        put_some(&mut m, "description", u.description());
                        put_some(&mut m, "groupId", u.group_id());
                        put_some(&mut m, "groupName", u.group_name());
                        put_some(&mut m, "peeringStatus", u.peering_status());
                        put_some(&mut m, "userId", u.user_id());
                        put_some(&mut m, "vpcId", u.vpc_id());
                        put_some(
                            &mut m,
                            "vpcPeeringConnectionId",
                            u.vpc_peering_connection_id(),
                        );
                        Value::Object(m)
                    })
                    .collect(),
            );
            m.insert(
                "ipv4Ranges".into(),
                p.ip_ranges()
                    .iter()
                    .map(|r| {
                        let mut m = Map::new();
                        m.insert("cidrIp".into(), json!(r.cidr_ip()));
                        put_some(&mut m, "description", r.description());
                        Value::Object(m)
                    })
                    .collect(),
            );
            m.insert(
                "ipRanges".into(),
                p.ip_ranges().iter().map(|r| json!(r.cidr_ip())).collect(),
            );
            Value::Object(m)
        })
        .collect()
}

async fn security_groups(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_security_groups()
        .set_filters(id_filter("group-id", ids))
        .max_results(1000);
    let err = for_each_page!(
        c.gate(Service::Ec2),
        "ec2:DescribeSecurityGroups",
        req,
        |page| {
            for g in page.security_groups() {
                let id = g.group_id().unwrap_or_default();
                let (tag_list, tag_map) = tags(g.tags());
                let configuration = json!({
                    "description": g.description(),
                    "groupName": g.group_name(),
                    "ipPermissions": permissions(g.ip_permissions()),
                    "ownerId": g.owner_id(),
                    "groupId": id,
                    "ipPermissionsEgress": permissions(g.ip_permissions_egress()),
                    "tags": tag_list,
                    "vpcId": g.vpc_id(),
                });
                let mut rels = Vec::new();
                if let Some(v) = g.vpc_id() {
                    rels.push(rel(IN_VPC, VPC, v));
                }
                let doc = Document {
                    arn: Some(arn(c, "security-group", id)),
                    resource_name: g.group_name().map(str::to_string),
                    availability_zone: Some("Not Applicable".into()),
                    tags: tag_map,
                    relationships: rels,
                    configuration,
                    ..Document::default()
                };
                out.add(&c.account, &c.region, SECURITY_GROUP, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

async fn network_acls(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_network_acls()
        .set_filters(id_filter("network-acl-id", ids))
        .max_results(100);
    let err = for_each_page!(
        c.gate(Service::Ec2),
        "ec2:DescribeNetworkAcls",
        req,
        |page| {
            for a in page.network_acls() {
                let id = a.network_acl_id().unwrap_or_default();
                let (tag_list, tag_map) = tags(a.tags());
                let associations: Value = a
                    .associations()
                    .iter()
                    .map(|x| {
                        json!({
                            "networkAclAssociationId": x.network_acl_association_id(),
                            "networkAclId": x.network_acl_id(),
                            "subnetId": x.subnet_id(),
                        })
                    })
                    .collect();
                let entries: Value = a
                .entries()
                .iter()
                .map(|e| {
                    json!({
                        "cidrBlock": e.cidr_block(),
                        "egress": e.egress(),
                        "icmpTypeCode": e.icmp_type_code().map(|i| json!({"code": i.code(), "type": i.r#type()})),
                        "ipv6CidrBlock": e.ipv6_cidr_block(),
                        "portRange": e.port_range().map(|p| json!({"from": p.from(), "to": p.to()})),
                        "protocol": e.protocol(),
                        "ruleAction": s(e.rule_action()),
                        "ruleNumber": e.rule_number(),
                    })
                })
                .collect();
                let configuration = json!({
                    "associations": associations,
                    "entries": entries,
                    "isDefault": a.is_default(),
                    "networkAclId": id,
                    "tags": tag_list,
                    "vpcId": a.vpc_id(),
                    "ownerId": a.owner_id(),
                });
                let mut rels: Vec<Relationship> = a
                    .associations()
                    .iter()
                    .filter_map(|x| x.subnet_id())
                    .map(|s| rel("Is attached to Subnet", SUBNET, s))
                    .collect();
                if let Some(v) = a.vpc_id() {
                    rels.push(rel(IN_VPC, VPC, v));
                }
                let doc = Document {
                    arn: Some(arn(c, "network-acl", id)),
                    availability_zone: Some("Multiple Availability Zones".into()),
                    tags: tag_map,
                    relationships: dedup(rels),
                    configuration,
                    ..Document::default()
                };
                out.add(&c.account, &c.region, NETWORK_ACL, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

async fn vpcs(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_vpcs()
        .set_filters(id_filter("vpc-id", ids))
        .max_results(1000);
    let err = for_each_page!(c.gate(Service::Ec2), "ec2:DescribeVpcs", req, |page| {
        for v in page.vpcs() {
            let id = v.vpc_id().unwrap_or_default();
            let (tag_list, tag_map) = tags(v.tags());
            let ipv6: Value = v
                .ipv6_cidr_block_association_set()
                .iter()
                .map(|a| {
                    json!({
                        "associationId": a.association_id(),
                        "ipv6CidrBlock": a.ipv6_cidr_block(),
                        "ipv6CidrBlockState": a.ipv6_cidr_block_state().map(|s2| json!({"state": s(s2.state()), "statusMessage": s2.status_message()})),
                        "networkBorderGroup": a.network_border_group(),
                        "ipv6Pool": a.ipv6_pool(),
                    })
                })
                .collect();
            let ipv4: Value = v
                .cidr_block_association_set()
                .iter()
                .map(|a| {
                    json!({
                        "associationId": a.association_id(),
                        "cidrBlock": a.cidr_block(),
                        "cidrBlockState": a.cidr_block_state().map(|s2| json!({"state": s(s2.state()), "statusMessage": s2.status_message()})),
                    })
                })
                .collect();
            let configuration = json!({
                "cidrBlock": v.cidr_block(),
                "dhcpOptionsId": v.dhcp_options_id(),
                "state": s(v.state()),
                "vpcId": id,
                "ownerId": v.owner_id(),
                "instanceTenancy": s(v.instance_tenancy()),
                "ipv6CidrBlockAssociationSet": ipv6,
                "cidrBlockAssociationSet": ipv4,
                "isDefault": v.is_default(),
                "tags": tag_list,
            });
            let doc = Document {
                arn: Some(arn(c, "vpc", id)),
                availability_zone: Some("Multiple Availability Zones".into()),
                tags: tag_map,
                relationships: Vec::new(),
                configuration,
                ..Document::default()
            };
            out.add(&c.account, &c.region, VPC, id, &doc);
        }
    });
    out.ended_by(err)
}

async fn subnets(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_subnets()
        .set_filters(id_filter("subnet-id", ids))
        .max_results(1000);
    let err = for_each_page!(c.gate(Service::Ec2), "ec2:DescribeSubnets", req, |page| {
        for n in page.subnets() {
            let id = n.subnet_id().unwrap_or_default();
            let (tag_list, tag_map) = tags(n.tags());
            let ipv6: Value = n
                .ipv6_cidr_block_association_set()
                .iter()
                .map(|a| {
                    json!({
                        "associationId": a.association_id(),
                        "ipv6CidrBlock": a.ipv6_cidr_block(),
                        "ipv6CidrBlockState": a.ipv6_cidr_block_state().map(|s2| json!({"state": s(s2.state()), "statusMessage": s2.status_message()})),
                    })
                })
                .collect();
            let dns = n.private_dns_name_options_on_launch().map(|o| {
                json!({
                    "hostnameType": s(o.hostname_type()),
                    "enableResourceNameDnsARecord": o.enable_resource_name_dns_a_record(),
                    "enableResourceNameDnsAAAARecord": o.enable_resource_name_dns_aaaa_record(),
                })
            });
            let configuration = json!({
                "availabilityZone": n.availability_zone(),
                "availabilityZoneId": n.availability_zone_id(),
                "availableIpAddressCount": n.available_ip_address_count(),
                "cidrBlock": n.cidr_block(),
                "defaultForAz": n.default_for_az(),
                "mapPublicIpOnLaunch": n.map_public_ip_on_launch(),
                "mapCustomerOwnedIpOnLaunch": n.map_customer_owned_ip_on_launch(),
                "customerOwnedIpv4Pool": n.customer_owned_ipv4_pool(),
                "state": s(n.state()),
                "subnetId": id,
                "vpcId": n.vpc_id(),
                "ownerId": n.owner_id(),
                "assignIpv6AddressOnCreation": n.assign_ipv6_address_on_creation(),
                "ipv6CidrBlockAssociationSet": ipv6,
                "tags": tag_list,
                "subnetArn": n.subnet_arn(),
                "outpostArn": n.outpost_arn(),
                "enableDns64": n.enable_dns64(),
                "ipv6Native": n.ipv6_native(),
                "privateDnsNameOptionsOnLaunch": dns,
            });
            let mut rels = Vec::new();
            if let Some(v) = n.vpc_id() {
                rels.push(rel(IN_VPC, VPC, v));
            }
            let doc = Document {
                arn: Some(arn(c, "subnet", id)),
                availability_zone: n.availability_zone().map(str::to_string),
                tags: tag_map,
                relationships: rels,
                configuration,
                ..Document::default()
            };
            out.add(&c.account, &c.region, SUBNET, id, &doc);
        }
    });
    out.ended_by(err)
}

async fn instances(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_instances()
        .set_filters(id_filter("instance-id", ids))
        .max_results(1000);
    let err = for_each_page!(c.gate(Service::Ec2), "ec2:DescribeInstances", req, |page| {
        for r in page.reservations() {
            for i in r.instances() {
                // A terminated instance stays visible for about an hour; AWS Config records it
                // as deleted at termination, so it is left out of the listing.
                if i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("terminated") {
                    continue;
                }
                let (id, doc) = instance_doc(c, i);
                out.add(&c.account, &c.region, INSTANCE, &id, &doc);
            }
        }
    });
    out.ended_by(err)
}

fn instance_doc(c: &RegionClients, i: &aws_sdk_ec2::types::Instance) -> (String, Document) {
    let id = i.instance_id().unwrap_or_default().to_string();
    let (tag_list, tag_map) = tags(i.tags());
    let assoc = |a: Option<&aws_sdk_ec2::types::InstanceNetworkInterfaceAssociation>| {
        a.map(|a| {
            json!({
                "carrierIp": a.carrier_ip(),
                "ipOwnerId": a.ip_owner_id(),
                "publicDnsName": a.public_dns_name(),
                "publicIp": a.public_ip(),
            })
        })
    };
    let enis: Value = i
        .network_interfaces()
        .iter()
        .map(|n| {
            json!({
                "association": assoc(n.association()),
                "attachment": n.attachment().map(|a| json!({
                    "attachTime": iso(a.attach_time()),
                    "attachmentId": a.attachment_id(),
                    "deleteOnTermination": a.delete_on_termination(),
                    "deviceIndex": a.device_index(),
                    "status": s(a.status()),
                    "networkCardIndex": a.network_card_index(),
                })),
                "description": n.description(),
                "groups": groups(n.groups()),
                "ipv6Addresses": n.ipv6_addresses().iter().map(|a| json!({"ipv6Address": a.ipv6_address()})).collect::<Value>(),
                "macAddress": n.mac_address(),
                "networkInterfaceId": n.network_interface_id(),
                "ownerId": n.owner_id(),
                "privateDnsName": n.private_dns_name(),
                "privateIpAddress": n.private_ip_address(),
                "privateIpAddresses": n.private_ip_addresses().iter().map(|p| json!({
                    "association": assoc(p.association()),
                    "primary": p.primary(),
                    "privateDnsName": p.private_dns_name(),
                    "privateIpAddress": p.private_ip_address(),
                })).collect::<Value>(),
                "sourceDestCheck": n.source_dest_check(),
                "status": s(n.status()),
                "subnetId": n.subnet_id(),
                "vpcId": n.vpc_id(),
                "interfaceType": n.interface_type(),
            })
        })
        .collect();
    let bdm: Value = i
        .block_device_mappings()
        .iter()
        .map(|b| {
            json!({
                "deviceName": b.device_name(),
                "ebs": b.ebs().map(|e| json!({
                    "attachTime": iso(e.attach_time()),
                    "deleteOnTermination": e.delete_on_termination(),
                    "status": s(e.status()),
                    "volumeId": e.volume_id(),
                })),
            })
        })
        .collect();
    let configuration = json!({
        "amiLaunchIndex": i.ami_launch_index(),
        "imageId": i.image_id(),
        "instanceId": id,
        "instanceType": s(i.instance_type()),
        "kernelId": i.kernel_id(),
        "keyName": i.key_name(),
        "launchTime": iso(i.launch_time()),
        "monitoring": i.monitoring().map(|m| json!({"state": s(m.state())})),
        "placement": i.placement().map(|p| json!({
            "availabilityZone": p.availability_zone(),
            "affinity": p.affinity(),
            "groupName": p.group_name(),
            "partitionNumber": p.partition_number(),
            "hostId": p.host_id(),
            "tenancy": s(p.tenancy()),
            "spreadDomain": p.spread_domain(),
            "hostResourceGroupArn": p.host_resource_group_arn(),
        })),
        "platform": s(i.platform()),
        "privateDnsName": i.private_dns_name(),
        "privateIpAddress": i.private_ip_address(),
        "productCodes": i.product_codes().iter().map(|p| json!({
            "productCodeId": p.product_code_id(),
            "productCodeType": s(p.product_code_type()),
        })).collect::<Value>(),
        "publicDnsName": i.public_dns_name(),
        "publicIpAddress": i.public_ip_address(),
        "ramdiskId": i.ramdisk_id(),
        "state": i.state().map(|st| json!({"code": st.code(), "name": s(st.name())})),
        "stateTransitionReason": i.state_transition_reason(),
        "subnetId": i.subnet_id(),
        "vpcId": i.vpc_id(),
        "architecture": s(i.architecture()),
        "blockDeviceMappings": bdm,
        "clientToken": i.client_token(),
        "ebsOptimized": i.ebs_optimized(),
        "enaSupport": i.ena_support(),
        "hypervisor": s(i.hypervisor()),
        "iamInstanceProfile": i.iam_instance_profile().map(|p| json!({"arn": p.arn(), "id": p.id()})),
        "instanceLifecycle": s(i.instance_lifecycle()),
        "elasticGpuAssociations": i.elastic_gpu_associations().iter().map(|g| json!({
            "elasticGpuId": g.elastic_gpu_id(),
            "elasticGpuAssociationId": g.elastic_gpu_association_id(),
            "elasticGpuAssociationState": g.elastic_gpu_association_state(),
            "elasticGpuAssociationTime": g.elastic_gpu_association_time(),
        })).collect::<Value>(),
        "elasticInferenceAcceleratorAssociations": i.elastic_inference_accelerator_associations().iter().map(|a| json!({
            "elasticInferenceAcceleratorArn": a.elastic_inference_accelerator_arn(),
            "elasticInferenceAcceleratorAssociationId": a.elastic_inference_accelerator_association_id(),
            "elasticInferenceAcceleratorAssociationState": a.elastic_inference_accelerator_association_state(),
            "elasticInferenceAcceleratorAssociationTime": iso(a.elastic_inference_accelerator_association_time()),
        })).collect::<Value>(),
        "networkInterfaces": enis,
        "outpostArn": i.outpost_arn(),
        "rootDeviceName": i.root_device_name(),
        "rootDeviceType": s(i.root_device_type()),
        "securityGroups": groups(i.security_groups()),
        "sourceDestCheck": i.source_dest_check(),
        "spotInstanceRequestId": i.spot_instance_request_id(),
        "sriovNetSupport": i.sriov_net_support(),
        "stateReason": i.state_reason().map(|r| json!({"code": r.code(), "message": r.message()})),
        "tags": tag_list,
        "virtualizationType": s(i.virtualization_type()),
        "cpuOptions": i.cpu_options().map(|o| json!({"coreCount": o.core_count(), "threadsPerCore": o.threads_per_core()})),
        "capacityReservationId": i.capacity_reservation_id(),
        "capacityReservationSpecification": i.capacity_reservation_specification().map(|o| json!({
            "capacityReservationPreference": s(o.capacity_reservation_preference()),
            "capacityReservationTarget": o.capacity_reservation_target().map(|t| json!({
                "capacityReservationId": t.capacity_reservation_id(),
                "capacityReservationResourceGroupArn": t.capacity_reservation_resource_group_arn(),
            })),
        })),
        "hibernationOptions": i.hibernation_options().map(|o| json!({"configured": o.configured()})),
        "licenses": i.licenses().iter().map(|l| json!({"licenseConfigurationArn": l.license_configuration_arn()})).collect::<Value>(),
        "metadataOptions": i.metadata_options().map(|o| json!({
            "state": s(o.state()),
            "httpTokens": s(o.http_tokens()),
            "httpPutResponseHopLimit": o.http_put_response_hop_limit(),
            "httpEndpoint": s(o.http_endpoint()),
            "httpProtocolIpv6": s(o.http_protocol_ipv6()),
            "instanceMetadataTags": s(o.instance_metadata_tags()),
        })),
        "enclaveOptions": i.enclave_options().map(|o| json!({"enabled": o.enabled()})),
        "bootMode": s(i.boot_mode()),
        "platformDetails": i.platform_details(),
        "usageOperation": i.usage_operation(),
        "usageOperationUpdateTime": iso(i.usage_operation_update_time()),
        "privateDnsNameOptions": i.private_dns_name_options().map(|o| json!({
            "hostnameType": s(o.hostname_type()),
            "enableResourceNameDnsARecord": o.enable_resource_name_dns_a_record(),
            "enableResourceNameDnsAAAARecord": o.enable_resource_name_dns_aaaa_record(),
        })),
        "ipv6Address": i.ipv6_address(),
        "tpmSupport": i.tpm_support(),
        "maintenanceOptions": i.maintenance_options().map(|o| json!({"autoRecovery": s(o.auto_recovery())})),
        "currentInstanceBootMode": s(i.current_instance_boot_mode()),
    });
    let mut rels = Vec::new();
    for n in i.network_interfaces() {
        if let Some(e) = n.network_interface_id() {
            rels.push(rel("Contains NetworkInterface", NETWORK_INTERFACE, e));
        }
    }
    for g in i.security_groups() {
        if let Some(g) = g.group_id() {
            rels.push(rel(WITH_SG, SECURITY_GROUP, g));
        }
    }
    if let Some(s) = i.subnet_id() {
        rels.push(rel(IN_SUBNET, SUBNET, s));
    }
    for b in i.block_device_mappings() {
        if let Some(v) = b.ebs().and_then(|e| e.volume_id()) {
            rels.push(rel("Is attached to Volume", VOLUME, v));
        }
    }
    if let Some(v) = i.vpc_id() {
        rels.push(rel(IN_VPC, VPC, v));
    }
    let doc = Document {
        arn: Some(arn(c, "instance", &id)),
        availability_zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_string),
        resource_creation_time: i.launch_time().map(crate::shape::iso_str),
        tags: tag_map,
        relationships: dedup(rels),
        configuration,
        ..Document::default()
    };
    (id, doc)
}

async fn network_interfaces(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_network_interfaces()
        .set_filters(id_filter("network-interface-id", ids))
        .max_results(1000);
    let err = for_each_page!(
        c.gate(Service::Ec2),
        "ec2:DescribeNetworkInterfaces",
        req,
        |page| {
            for n in page.network_interfaces() {
                let id = n.network_interface_id().unwrap_or_default();
                let (tag_list, tag_map) = tags(n.tag_set());
                let assoc = |a: Option<&aws_sdk_ec2::types::NetworkInterfaceAssociation>| {
                    a.map(|a| {
                        json!({
                            "allocationId": a.allocation_id(),
                            "associationId": a.association_id(),
                            "carrierIp": a.carrier_ip(),
                            "customerOwnedIp": a.customer_owned_ip(),
                            "ipOwnerId": a.ip_owner_id(),
                            "publicDnsName": a.public_dns_name(),
                            "publicIp": a.public_ip(),
                        })
                    })
                };
                let configuration = json!({
                    "association": assoc(n.association()),
                    "attachment": n.attachment().map(|a| json!({
                        "attachTime": iso(a.attach_time()),
                        "attachmentId": a.attachment_id(),
                        "deleteOnTermination": a.delete_on_termination(),
                        "deviceIndex": a.device_index(),
                        "networkCardIndex": a.network_card_index(),
                        "instanceId": a.instance_id(),
                        "instanceOwnerId": a.instance_owner_id(),
                        "status": s(a.status()),
                    })),
                    "availabilityZone": n.availability_zone(),
                    "description": n.description(),
                    "groups": groups(n.groups()),
                    "interfaceType": s(n.interface_type()),
                    "ipv6Addresses": n.ipv6_addresses().iter().map(|a| json!({"ipv6Address": a.ipv6_address()})).collect::<Value>(),
                    "macAddress": n.mac_address(),
                    "networkInterfaceId": id,
                    "outpostArn": n.outpost_arn(),
                    "ownerId": n.owner_id(),
                    "privateDnsName": n.private_dns_name(),
                    "privateIpAddress": n.private_ip_address(),
                    "privateIpAddresses": n.private_ip_addresses().iter().map(|p| json!({
                        "association": assoc(p.association()),
                        "primary": p.primary(),
                        "privateDnsName": p.private_dns_name(),
                        "privateIpAddress": p.private_ip_address(),
                    })).collect::<Value>(),
                    "ipv4Prefixes": n.ipv4_prefixes().iter().map(|p| json!({"ipv4Prefix": p.ipv4_prefix()})).collect::<Value>(),
                    "ipv6Prefixes": n.ipv6_prefixes().iter().map(|p| json!({"ipv6Prefix": p.ipv6_prefix()})).collect::<Value>(),
                    "requesterId": n.requester_id(),
                    "requesterManaged": n.requester_managed(),
                    "sourceDestCheck": n.source_dest_check(),
                    "status": s(n.status()),
                    "subnetId": n.subnet_id(),
                    "tagSet": tag_list,
                    "vpcId": n.vpc_id(),
                    "denyAllIgwTraffic": n.deny_all_igw_traffic(),
                    "ipv6Native": n.ipv6_native(),
                    "ipv6Address": n.ipv6_address(),
                });
                let mut rels = Vec::new();
                if let Some(i) = n.attachment().and_then(|a| a.instance_id()) {
                    rels.push(rel("Is attached to Instance", INSTANCE, i));
                }
                for g in n.groups() {
                    if let Some(g) = g.group_id() {
                        rels.push(rel(WITH_SG, SECURITY_GROUP, g));
                    }
                }
                if let Some(s) = n.subnet_id() {
                    rels.push(rel(IN_SUBNET, SUBNET, s));
                }
                if let Some(v) = n.vpc_id() {
                    rels.push(rel(IN_VPC, VPC, v));
                }
                let doc = Document {
                    arn: Some(arn(c, "network-interface", id)),
                    availability_zone: n.availability_zone().map(str::to_string),
                    tags: tag_map,
                    relationships: dedup(rels),
                    configuration,
                    ..Document::default()
                };
                out.add(&c.account, &c.region, NETWORK_INTERFACE, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

async fn route_tables(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_route_tables()
        .set_filters(id_filter("route-table-id", ids))
        .max_results(100);
    let err = for_each_page!(
        c.gate(Service::Ec2),
        "ec2:DescribeRouteTables",
        req,
        |page| {
            for t in page.route_tables() {
                let id = t.route_table_id().unwrap_or_default();
                let (tag_list, tag_map) = tags(t.tags());
                let associations: Value = t
                .associations()
                .iter()
                .map(|a| {
                    json!({
                        "main": a.main(),
                        "routeTableAssociationId": a.route_table_association_id(),
                        "routeTableId": a.route_table_id(),
                        "subnetId": a.subnet_id(),
                        "gatewayId": a.gateway_id(),
                        "associationState": a.association_state().map(|st| json!({"state": s(st.state()), "statusMessage": st.status_message()})),
                    })
                })
                .collect();
                let routes: Value = t
                    .routes()
                    .iter()
                    .map(|r| {
                        json!({
                            "destinationCidrBlock": r.destination_cidr_block(),
                            "destinationIpv6CidrBlock": r.destination_ipv6_cidr_block(),
                            "destinationPrefixListId": r.destination_prefix_list_id(),
                            "egressOnlyInternetGatewayId": r.egress_only_internet_gateway_id(),
                            "gatewayId": r.gateway_id(),
                            "instanceId": r.instance_id(),
                            "instanceOwnerId": r.instance_owner_id(),
                            "natGatewayId": r.nat_gateway_id(),
                            "transitGatewayId": r.transit_gateway_id(),
                            "localGatewayId": r.local_gateway_id(),
                            "carrierGatewayId": r.carrier_gateway_id(),
                            "networkInterfaceId": r.network_interface_id(),
                            "origin": s(r.origin()),
                            "state": s(r.state()),
                            "vpcPeeringConnectionId": r.vpc_peering_connection_id(),
                        })
                    })
                    .collect();
                let configuration = json!({
                    "associations": associations,
                    "propagatingVgws": t.propagating_vgws().iter().map(|g| json!({"gatewayId": g.gateway_id()})).collect::<Value>(),
                    "routeTableId": id,
                    "routes": routes,
                    "tags": tag_list,
                    "vpcId": t.vpc_id(),
                    "ownerId": t.owner_id(),
                });
                let mut rels: Vec<Relationship> = t
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id())
                    .map(|s| rel("Contains Subnet", SUBNET, s))
                    .collect();
                if let Some(v) = t.vpc_id() {
                    rels.push(rel(IN_VPC, VPC, v));
                }
                let doc = Document {
                    arn: Some(arn(c, "route-table", id)),
                    availability_zone: Some("Not Applicable".into()),
                    tags: tag_map,
                    relationships: dedup(rels),
                    configuration,
                    ..Document::default()
                };
                out.add(&c.account, &c.region, ROUTE_TABLE, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

async fn internet_gateways(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_internet_gateways()
        .set_filters(id_filter("internet-gateway-id", ids))
        .max_results(1000);
    let err = for_each_page!(
        c.gate(Service::Ec2),
        "ec2:DescribeInternetGateways",
        req,
        |page| {
            for g in page.internet_gateways() {
                let id = g.internet_gateway_id().unwrap_or_default();
                let (tag_list, tag_map) = tags(g.tags());
                let configuration = json!({
                    "attachments": g.attachments().iter().map(|a| json!({"state": s(a.state()), "vpcId": a.vpc_id()})).collect::<Value>(),
                    "internetGatewayId": id,
                    "ownerId": g.owner_id(),
                    "tags": tag_list,
                });
                let rels = g
                    .attachments()
                    .iter()
                    .filter_map(|a| a.vpc_id())
                    .map(|v| rel("Is attached to Vpc", VPC, v))
                    .collect();
                let doc = Document {
                    arn: Some(arn(c, "internet-gateway", id)),
                    availability_zone: Some("Multiple Availability Zones".into()),
                    tags: tag_map,
                    relationships: dedup(rels),
                    configuration,
                    ..Document::default()
                };
                out.add(&c.account, &c.region, INTERNET_GATEWAY, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

async fn volumes(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .ec2
        .describe_volumes()
        .set_filters(id_filter("volume-id", ids))
        .max_results(500);
    let err = for_each_page!(c.gate(Service::Ec2), "ec2:DescribeVolumes", req, |page| {
        for v in page.volumes() {
            let id = v.volume_id().unwrap_or_default();
            let (tag_list, tag_map) = tags(v.tags());
            let configuration = json!({
                "attachments": v.attachments().iter().map(|a| json!({
                    "attachTime": iso(a.attach_time()),
                    "device": a.device(),
                    "instanceId": a.instance_id(),
                    "state": s(a.state()),
                    "volumeId": a.volume_id(),
                    "deleteOnTermination": a.delete_on_termination(),
                })).collect::<Value>(),
                "availabilityZone": v.availability_zone(),
                "createTime": iso(v.create_time()),
                "encrypted": v.encrypted(),
                "kmsKeyId": v.kms_key_id(),
                "outpostArn": v.outpost_arn(),
                "size": v.size(),
                "snapshotId": v.snapshot_id(),
                "state": s(v.state()),
                "volumeId": id,
                "iops": v.iops(),
                "tags": tag_list,
                "volumeType": s(v.volume_type()),
                "fastRestored": v.fast_restored(),
                "multiAttachEnabled": v.multi_attach_enabled(),
                "throughput": v.throughput(),
            });
            let rels = v
                .attachments()
                .iter()
                .filter_map(|a| a.instance_id())
                .map(|i| rel("Is attached to Instance", INSTANCE, i))
                .collect();
            let doc = Document {
                arn: Some(arn(c, "volume", id)),
                availability_zone: v.availability_zone().map(str::to_string),
                resource_creation_time: v.create_time().map(crate::shape::iso_str),
                tags: tag_map,
                relationships: dedup(rels),
                configuration,
                ..Document::default()
            };
            out.add(&c.account, &c.region, VOLUME, id, &doc);
        }
    });
    out.ended_by(err)
}
