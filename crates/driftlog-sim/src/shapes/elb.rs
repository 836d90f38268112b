//! Application load balancers and their listeners in AWS Config's shape (reference items
//! `AWS_ElasticLoadBalancingV2_{LoadBalancer,Listener}.json`): the load balancer in bean
//! camelCase (`dNSName`) with its attributes as `[{key, value}]` strings, the listener in
//! CloudFormation's PascalCase with no relationships (its load balancer is only its
//! `LoadBalancerArn`). Every load balancer has the reference item's HTTP listener
//! redirecting to HTTPS; most also have the HTTPS listener it redirects to.

use super::svc::Svc;
use super::tmpl::{put, template};
use super::{object_mut, rel, tag_list, Tags, Top};
use crate::ids::{self, iso};
use crate::topology::{SgTopo, SubnetTopo};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Value};

/// What a load balancer depends on.
pub(crate) struct LbSpec<'a> {
    pub name: &'a str,
    pub vpc_id: &'a str,
    pub subnets: &'a [&'a SubnetTopo],
    pub sgs: &'a [&'a SgTopo],
    pub log_bucket: &'a str,
    pub created_ms: i64,
}

/// A load balancer; its ARN is also its resource id.
pub(crate) fn load_balancer(
    rng: &mut Rng,
    at: Svc<'_>,
    l: &LbSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = at.arn(
        "elasticloadbalancing",
        &format!("loadbalancer/app/{}/{}", l.name, ids::hex(rng, 16)),
    );
    let created = iso(l.created_ms);
    let internal = rng.u8(..3) == 0;
    let (mut c, mut supp) = template("ElasticLoadBalancingV2_LoadBalancer");
    let dns = format!(
        "{}{}-{}.{}.elb.amazonaws.com",
        if internal { "internal-" } else { "" },
        l.name,
        rng.u32(100_000_000..2_000_000_000),
        at.region
    );
    put(&mut c, "/loadBalancerArn", arn.clone());
    put(&mut c, "/dNSName", dns);
    put(&mut c, "/createdTime", created.clone());
    put(&mut c, "/loadBalancerName", l.name);
    put(
        &mut c,
        "/scheme",
        if internal {
            "internal"
        } else {
            "internet-facing"
        },
    );
    put(&mut c, "/vpcId", l.vpc_id);
    put(&mut c, "/availabilityZones", json!(l.subnets.iter().map(|s| json!({
        "zoneName": ids::az(at.region, s.az_index), "subnetId": s.id, "outpostId": null, "loadBalancerAddresses": [],
    })).collect::<Vec<_>>()));
    put(
        &mut c,
        "/securityGroups",
        json!(l.sgs.iter().map(|g| &g.id).collect::<Vec<_>>()),
    );
    let logs = rng.u8(..3) != 0;
    let attrs = [
        ("access_logs.s3.enabled", logs.to_string()),
        (
            "access_logs.s3.bucket",
            if logs {
                l.log_bucket.to_string()
            } else {
                String::new()
            },
        ),
        (
            "access_logs.s3.prefix",
            if logs {
                l.name.to_string()
            } else {
                String::new()
            },
        ),
        (
            "deletion_protection.enabled",
            (rng.u8(..3) != 0).to_string(),
        ),
        ("idle_timeout.timeout_seconds", "60".to_string()),
        (
            "routing.http.desync_mitigation_mode",
            "defensive".to_string(),
        ),
        (
            "routing.http.drop_invalid_header_fields.enabled",
            rng.bool().to_string(),
        ),
        (
            "routing.http.preserve_host_header.enabled",
            "false".to_string(),
        ),
        (
            "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
            "false".to_string(),
        ),
        ("routing.http.xff_client_port.enabled", "false".to_string()),
        (
            "routing.http.xff_header_processing.mode",
            "append".to_string(),
        ),
        ("routing.http2.enabled", "true".to_string()),
        ("waf.fail_open.enabled", "false".to_string()),
        ("load_balancing.cross_zone.enabled", "true".to_string()),
    ];
    supp.insert(
        "LoadBalancerAttributes".into(),
        Value::Array(
            attrs
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect(),
        ),
    );
    supp.insert("Tags".into(), tag_list(tags));
    let mut rels: Vec<Value> = l
        .sgs
        .iter()
        .map(|g| {
            rel(
                "Is associated with SecurityGroup",
                types::SECURITY_GROUP,
                &g.id,
                None,
            )
        })
        .collect();
    rels.extend(
        l.subnets
            .iter()
            .map(|s| rel("Is attached to Subnet", types::SUBNET, &s.id, None)),
    );
    rels.push(rel("Is contained in Vpc", types::VPC, l.vpc_id, None));
    let doc = Top {
        arn: arn.clone(),
        name: Some(l.name),
        az: "Multiple Availability Zones",
        created: Some(created),
        tags,
        relationships: rels,
    }
    .build(c, supp);
    (at.key(types::LOAD_BALANCER, &arn), doc)
}

/// Turns deletion protection on or off.
pub(crate) fn set_deletion_protection(v: &mut Value, on: bool) -> bool {
    let Some(attrs) =
        super::array_mut(v, &["supplementaryConfiguration", "LoadBalancerAttributes"])
    else {
        return false;
    };
    let want = on.to_string();
    for a in attrs.iter_mut() {
        if a.get("key").and_then(Value::as_str) == Some("deletion_protection.enabled") {
            if a.get("value").and_then(Value::as_str) == Some(want.as_str()) {
                return false;
            }
            if let Some(m) = a.as_object_mut() {
                m.insert("value".into(), want.into());
                return true;
            }
        }
    }
    false
}

/// The listener every load balancer has: HTTP on 80, redirecting to HTTPS.
pub(crate) fn listener(
    rng: &mut Rng,
    at: Svc<'_>,
    lb_arn: &str,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let lb_part = lb_arn
        .split_once(":loadbalancer/")
        .map_or("app/lb/0", |(_, p)| p);
    let arn = at.arn(
        "elasticloadbalancing",
        &format!("listener/{lb_part}/{}", ids::hex(rng, 16)),
    );
    let (mut c, supp) = template("ElasticLoadBalancingV2_Listener");
    put(&mut c, "/LoadBalancerArn", lb_arn);
    put(&mut c, "/ListenerArn", arn.clone());
    let doc = Top {
        arn: arn.clone(),
        name: None,
        az: "Regional",
        created: None,
        tags,
        relationships: Vec::new(),
    }
    .build(c, supp);
    (at.key(types::LISTENER, &arn), doc)
}

/// TLS policies an HTTPS listener may use: the current recommendation and the 2016 one,
/// which still accepts TLS 1.0.
pub(crate) const TLS_POLICIES: &[&str] = &[
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-2016-08",
];

/// An HTTPS listener on 443 forwarding to a target group (not a recorded type, so only
/// named here), with a certificate and a TLS policy. Its members beyond the reference
/// item's HTTP listener (`SslPolicy`, `Certificates`, the forward action) are the ones AWS
/// Config's schema lists for the type.
pub(crate) fn https_listener(
    rng: &mut Rng,
    at: Svc<'_>,
    lb_arn: &str,
    lb_name: &str,
) -> (ResourceKey, Value) {
    let (key, mut doc) = listener(rng, at, lb_arn, &Tags::new());
    let tg = at.arn(
        "elasticloadbalancing",
        &format!("targetgroup/{lb_name}-tg/{}", ids::hex(rng, 16)),
    );
    let cert = at.arn("acm", &format!("certificate/{}", ids::uuid(rng)));
    if let Some(c) = object_mut(&mut doc, &["configuration"]) {
        c.insert("Port".into(), 443.into());
        c.insert("Protocol".into(), "HTTPS".into());
        c.insert("SslPolicy".into(), ids::word(rng, TLS_POLICIES).into());
        c.insert("Certificates".into(), json!([{"CertificateArn": cert}]));
        c.insert(
            "DefaultActions".into(),
            json!([{
                "Type": "forward",
                "Order": 1,
                "TargetGroupArn": tg,
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": tg, "Weight": 1}],
                    "TargetGroupStickinessConfig": {"Enabled": false},
                },
            }]),
        );
    }
    (key, doc)
}

/// Moves an HTTPS listener to the other TLS policy (weakening or restoring it).
pub(crate) fn toggle_tls_policy(v: &mut Value) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let Some(current) = c.get("SslPolicy").and_then(Value::as_str) else {
        return false;
    };
    let next = TLS_POLICIES
        .iter()
        .find(|p| **p != current)
        .copied()
        .unwrap_or(current);
    c.insert("SslPolicy".into(), next.into());
    true
}

/// Switches the listener's redirect between permanent (301) and temporary (302).
pub(crate) fn toggle_redirect(v: &mut Value) -> bool {
    let Some(cfg) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let Some(Value::String(code)) = cfg
        .get_mut("DefaultActions")
        .and_then(|a| a.pointer_mut("/0/RedirectConfig/StatusCode"))
    else {
        return false;
    };
    *code = if code == "HTTP_301" {
        "HTTP_302".into()
    } else {
        "HTTP_301".into()
    };
    true
}
