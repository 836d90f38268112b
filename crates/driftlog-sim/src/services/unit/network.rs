//! A VPC unit's network services: NAT gateways with their EIPs, the other EIPs (most on
//! the VPC's instances), VPC endpoints and the flow log.

use super::{log_bucket, Ctx, ServiceCounts, APPS};
use crate::ids;
use crate::shapes::netx::{self, EipTarget, EndpointSpec, FlowLogSpec, NatSpec};
use crate::shapes::svc::Svc;
use crate::shapes::tags;
use crate::topology::{RoleRef, SubnetTopo, VpcTopo};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::Value;

const ENDPOINT_SERVICES: &[&str] = &["s3", "dynamodb", "secretsmanager", "sqs", "ecr.api", "kms"];

/// NAT gateways with their EIPs, other EIPs, VPC endpoints and the flow log.
pub(super) fn network(rng: &mut Rng, cx: &mut Ctx<'_>, c: &ServiceCounts) {
    let at = cx.at;
    let public: Vec<SubnetTopo> = cx.subnets(Some(true)).into_iter().cloned().collect();
    let nats = c.nats.min(public.len());
    for k in 0..nats {
        let Some(subnet) = public.get(k) else { break };
        let id = ids::ec2_id(rng, "nat");
        let alloc = ids::ec2_id(rng, "eipalloc");
        let ip = netx::public_ip(rng);
        let created = cx.created(rng);
        let t = tags(&[
            (
                "Name",
                &format!("nat-{}", ids::az(at.region, subnet.az_index)),
            ),
            ("env", cx.vpc.env),
        ]);
        let (key, nat) = netx::nat_gateway(
            rng,
            at,
            &NatSpec {
                id: &id,
                vpc_id: &cx.vpc.id,
                subnet,
                vpc_octet: cx.vpc.octet,
                allocation_id: &alloc,
                public_ip: &ip,
                created_ms: created,
            },
            &t,
        );
        let addr = nat
            .pointer("/configuration/natGatewayAddresses/0")
            .cloned()
            .unwrap_or(Value::Null);
        let eni = addr
            .get("networkInterfaceId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let private_ip = addr
            .get("privateIp")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let t = tags(&[("Name", &format!("{id}-ip"))]);
        cx.out.push(netx::eip(
            rng,
            at,
            &alloc,
            &ip,
            &EipTarget::Nat { eni, private_ip },
            &t,
        ));
        cx.out.push((key, nat));
    }
    let mut free: Vec<_> = cx.vpc.instances.iter().collect();
    for _ in 0..c.eips.saturating_sub(nats) {
        let alloc = ids::ec2_id(rng, "eipalloc");
        let ip = netx::public_ip(rng);
        let t = tags(&[("Name", &format!("{}-ip", ids::word(rng, APPS)))]);
        let target = if rng.u8(..10) < 7 && !free.is_empty() {
            let i = free.swap_remove(rng.usize(..free.len()));
            cx.unit
                .eips
                .push((at_key(at, types::INSTANCE, &i.id), alloc.clone()));
            EipTarget::Instance {
                id: &i.id,
                eni: &i.eni,
                private_ip: &i.private_ip,
            }
        } else {
            EipTarget::None
        };
        cx.out.push(netx::eip(rng, at, &alloc, &ip, &target, &t));
    }
    let private = cx.subnets(Some(false));
    let private: Vec<&SubnetTopo> = if private.is_empty() {
        cx.subnets(None)
    } else {
        private
    };
    let mut services: Vec<&str> = ENDPOINT_SERVICES.to_vec();
    for _ in 0..c.endpoints.min(services.len()) {
        let service = services.swap_remove(rng.usize(..services.len()));
        let id = ids::ec2_id(rng, "vpce");
        let sgs = cx.sgs(rng);
        let created = cx.created(rng);
        let t = tags(&[("Name", &format!("{service}-endpoint"))]);
        cx.out.push(netx::vpc_endpoint(
            rng,
            at,
            &EndpointSpec {
                id: &id,
                vpc_id: &cx.vpc.id,
                service,
                rtb: &cx.vpc.rtb,
                subnets: &private,
                sg: sgs.first().copied(),
                created_ms: created,
            },
            &t,
        ));
    }
    if c.flow_logs > 0 {
        let created = cx.created(rng);
        let (key, id) = flow_log(rng, cx.at, cx.vpc, cx.roles, created);
        cx.unit
            .flow_logs
            .push((at_key(at, types::VPC, &cx.vpc.id), id));
        cx.out.push(key);
    }
}

fn at_key(at: Svc<'_>, ty: &str, id: &str) -> ResourceKey {
    at.key(ty, id)
}

/// A flow log watching `vpc`, to S3 or CloudWatch Logs; also what churn creates.
pub(crate) fn flow_log(
    rng: &mut Rng,
    at: Svc<'_>,
    vpc: &VpcTopo,
    roles: &[RoleRef],
    created_ms: i64,
) -> ((ResourceKey, Value), String) {
    let id = ids::ec2_id(rng, "fl");
    let bucket = log_bucket(at.account, at.region);
    let role = ids::pick(rng, roles).map_or_else(String::new, |r| r.arn.clone());
    let t = tags(&[("Name", &format!("{}-flow-log", vpc.env))]);
    let to_s3 = rng.bool();
    let doc = netx::flow_log(
        rng,
        at,
        &FlowLogSpec {
            id: &id,
            vpc_id: &vpc.id,
            bucket: to_s3.then_some(bucket.as_str()),
            role_arn: &role,
            created_ms,
        },
        &t,
    );
    (doc, id)
}
