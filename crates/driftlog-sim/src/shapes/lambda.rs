//! Lambda functions in AWS Config's shape (reference item `AWS_Lambda_Function.json`):
//! camelCase with Config's `kmskeyArn`, tags as a map in `supplementaryConfiguration.Tags`,
//! and the unqualified relationship names with a trailing space that AWS Config uses for
//! Lambda (`Is associated with ` a role by name only, security groups; `Is contained in `
//! subnets).

use super::svc::Svc;
use super::tmpl::{put, template};
use super::{rel, tag_map, Tags, Top};
use crate::ids::{self, iso};
use crate::topology::{RoleRef, SgTopo, SubnetTopo};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Value};

/// Relationship from a function to its role and security groups.
pub(crate) const ASSOCIATED: &str = "Is associated with ";
/// Relationship from a function to its subnets.
pub(crate) const CONTAINED: &str = "Is contained in ";

const RUNTIMES: &[&str] = &[
    "python3.12",
    "python3.11",
    "nodejs20.x",
    "nodejs18.x",
    "java21",
    "provided.al2023",
];
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// What a function depends on.
pub(crate) struct FunctionSpec<'a> {
    pub name: &'a str,
    pub role: &'a RoleRef,
    /// Subnets and security groups when the function runs in a VPC.
    pub subnets: &'a [&'a SubnetTopo],
    pub sgs: &'a [&'a SgTopo],
    pub dlq_arn: Option<&'a str>,
    pub kms: Option<&'a str>,
    pub modified_ms: i64,
}

/// Lambda's `lastModified`: the raw API text with a `+0000` offset.
fn lambda_time(ms: i64) -> String {
    let t = iso(ms);
    format!("{}+0000", t.trim_end_matches('Z'))
}

pub(crate) fn function(
    rng: &mut Rng,
    at: Svc<'_>,
    f: &FunctionSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = at.arn("lambda", &format!("function:{}", f.name));
    let (mut c, mut supp) = template("Lambda_Function");
    let sha: String = (0..43).map(|_| char::from(B64[rng.usize(..64)])).collect();
    let runtime = ids::word(rng, RUNTIMES);
    put(&mut c, "/functionName", f.name);
    put(&mut c, "/functionArn", arn.clone());
    put(&mut c, "/runtime", runtime);
    put(&mut c, "/role", f.role.arn.clone());
    put(
        &mut c,
        "/handler",
        if runtime.starts_with("java") {
            "app.Handler::handleRequest"
        } else {
            "app.handler"
        },
    );
    put(&mut c, "/codeSize", rng.u32(2_000..20_000_000));
    put(
        &mut c,
        "/description",
        format!("{} function", f.name.replace('-', " ")),
    );
    put(
        &mut c,
        "/timeout",
        *ids::pick(rng, &[3, 10, 30, 60, 300, 900]).unwrap_or(&30),
    );
    put(
        &mut c,
        "/memorySize",
        *ids::pick(rng, &[128, 256, 512, 1024, 2048]).unwrap_or(&128),
    );
    put(&mut c, "/lastModified", lambda_time(f.modified_ms));
    put(&mut c, "/codeSha256", format!("{sha}="));
    put(
        &mut c,
        "/vpcConfig/subnetIds",
        json!(f.subnets.iter().map(|s| &s.id).collect::<Vec<_>>()),
    );
    put(
        &mut c,
        "/vpcConfig/securityGroupIds",
        json!(f.sgs.iter().map(|g| &g.id).collect::<Vec<_>>()),
    );
    put(&mut c, "/deadLetterConfig/targetArn", json!(f.dlq_arn));
    put(&mut c, "/kmskeyArn", json!(f.kms));
    put(
        &mut c,
        "/tracingConfig/mode",
        if rng.bool() { "Active" } else { "PassThrough" },
    );
    put(&mut c, "/revisionId", ids::uuid(rng));
    if rng.u8(..3) == 0 {
        let layer = at.arn(
            "lambda",
            &format!(
                "layer:{}-common:{}",
                f.name.split('-').next().unwrap_or("app"),
                rng.u8(1..20)
            ),
        );
        put(&mut c, "/layers/0/arn", layer);
        put(&mut c, "/layers/0/codeSize", rng.u32(10_000..5_000_000));
    } else {
        put(&mut c, "/layers", json!([]));
    }
    if rng.u8(..10) == 0 {
        let ap = at.arn(
            "elasticfilesystem",
            &format!("access-point/{}", ids::ec2_id(rng, "fsap")),
        );
        put(&mut c, "/fileSystemConfigs/0/arn", ap);
        put(
            &mut c,
            "/fileSystemConfigs/0/localMountPath",
            format!("/mnt/{}", f.name),
        );
    } else {
        put(&mut c, "/fileSystemConfigs", json!([]));
    }
    put(
        &mut c,
        "/architectures",
        json!([if rng.bool() { "arm64" } else { "x86_64" }]),
    );
    if rng.u8(..4) == 0 {
        put(
            supp.entry("Concurrency").or_insert(Value::Null),
            "/reservedConcurrentExecutions",
            rng.u32(1..200),
        );
    } else {
        supp.remove("Concurrency");
    }
    if rng.u8(..3) == 0 {
        let policy = json!({
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": [{
                "Sid": "AllowEventBridge",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": arn,
                "Condition": {"ArnLike": {"AWS:SourceArn": at.arn("events", &format!("rule/{}-schedule", f.name))}},
            }],
        });
        supp.insert("Policy".into(), policy.to_string().into());
    } else {
        supp.remove("Policy");
    }
    supp.insert("Tags".into(), tag_map(tags));
    let mut rels = vec![json!({
        "resourceId": null,
        "resourceName": f.role.name,
        "resourceType": types::ROLE,
        "name": ASSOCIATED,
    })];
    rels.extend(
        f.sgs
            .iter()
            .map(|g| rel(ASSOCIATED, types::SECURITY_GROUP, &g.id, None)),
    );
    rels.extend(
        f.subnets
            .iter()
            .map(|s| rel(CONTAINED, types::SUBNET, &s.id, None)),
    );
    let doc = Top {
        arn,
        name: Some(f.name),
        az: "Not Applicable",
        created: None,
        tags,
        relationships: rels,
    }
    .build(c, supp);
    (at.key(types::LAMBDA_FUNCTION, f.name), doc)
}

/// A deployment that changes the memory size: `lastModified`, `revisionId` move with it.
pub(crate) fn set_memory(rng: &mut Rng, v: &mut Value, mb: u32, now_ms: i64) -> bool {
    let Some(c) = v.get_mut("configuration") else {
        return false;
    };
    if c.get("memorySize").and_then(Value::as_u64) == Some(u64::from(mb))
        || c.get("memorySize").is_none()
    {
        return false;
    }
    put(c, "/memorySize", mb);
    put(c, "/lastModified", lambda_time(now_ms));
    put(c, "/revisionId", ids::uuid(rng));
    true
}
