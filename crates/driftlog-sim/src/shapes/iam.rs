//! IAM documents in AWS Config's shape (reference items `AWS_IAM_*.json`): global, ids are
//! unique ids (`AROA...`), policy documents percent-encoded JSON text.
//!
//! An account is first drawn as a skeleton (names, ids, who attaches which policy) so that
//! attachment counts are right and instance profiles are known before any EC2 document is
//! built; documents are rendered from it afterwards.

use super::{array_mut, object_mut, rel, tag_list, Tags, Top};
use crate::ids::{self, iso};
use crate::plan::IamCounts;
use crate::topology::Profile;
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Map, Value};

/// Relationship from a role, user or group to a customer-managed policy.
pub(crate) const TO_POLICY: &str = "Is attached to CustomerManagedPolicy";
/// AWS caps managed policies per principal at 10 by default.
const MAX_ATTACHED: usize = 10;
/// AWS keeps at most five versions of a managed policy.
const MAX_VERSIONS: usize = 5;
const DAY: i64 = 86_400_000;

const APPS: &[&str] = &[
    "orders",
    "billing",
    "payments",
    "search",
    "catalog",
    "auth",
    "inventory",
    "analytics",
    "reports",
    "ingest",
    "notify",
    "media",
];
const PURPOSES: &[&str] = &["read", "write", "admin", "logs", "deploy", "audit"];
const PEOPLE: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "oscar",
    "peggy", "trent", "victor", "walter",
];
const TEAMS: &[&str] = &[
    "developers",
    "ops",
    "data",
    "security",
    "finance",
    "support",
];
const AWS_MANAGED: &[(&str, &str)] = &[
    ("ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    (
        "AmazonSSMManagedInstanceCore",
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    ),
    (
        "CloudWatchAgentServerPolicy",
        "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
    ),
    (
        "AmazonS3ReadOnlyAccess",
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    ),
    (
        "AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ),
];

// ---- policy documents ---------------------------------------------------------------

/// JSON with member order kept, for policy text as IAM returns it (`Version` first).
enum J {
    S(String),
    A(Vec<J>),
    O(Vec<(&'static str, J)>),
}

fn s(text: impl Into<String>) -> J {
    J::S(text.into())
}

/// One string, or an array when there are several (as policy authors write them).
fn one_or_many(items: Vec<String>) -> J {
    if items.len() == 1 {
        J::S(items.into_iter().next().unwrap_or_default())
    } else {
        J::A(items.into_iter().map(J::S).collect())
    }
}

impl J {
    fn write(&self, out: &mut String, pretty: bool, depth: usize) {
        let nl = |out: &mut String, d: usize| {
            if pretty {
                out.push('\n');
                out.push_str(&"  ".repeat(d));
            }
        };
        match self {
            J::S(text) => out.push_str(&Value::String(text.clone()).to_string()),
            J::A(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    nl(out, depth + 1);
                    item.write(out, pretty, depth + 1);
                }
                nl(out, depth);
                out.push(']');
            }
            J::O(members) => {
                out.push('{');
                for (i, (k, item)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    nl(out, depth + 1);
                    out.push('"');
                    out.push_str(k);
                    out.push_str(if pretty { "\": " } else { "\":" });
                    item.write(out, pretty, depth + 1);
                }
                nl(out, depth);
                out.push('}');
            }
        }
    }
}

/// A policy document as percent-encoded text: compact (trust and inline policies) or
/// pretty-printed with two-space indents (managed policy versions), as IAM returns them.
fn encode(statements: Vec<J>, pretty: bool) -> String {
    let doc = J::O(vec![
        ("Version", s("2012-10-17")),
        ("Statement", J::A(statements)),
    ]);
    let mut text = String::new();
    doc.write(&mut text, pretty, 0);
    ids::percent_encode(&text)
}

fn allow(actions: &[&str], resources: Vec<String>) -> J {
    J::O(vec![
        ("Effect", s("Allow")),
        (
            "Action",
            one_or_many(actions.iter().map(|a| (*a).to_string()).collect()),
        ),
        ("Resource", one_or_many(resources)),
    ])
}

/// One plausible statement for app `app` in `account`.
fn statement(rng: &mut Rng, account: &str, region: &str, app: &str) -> J {
    match rng.u8(..7) {
        0 => allow(
            &["s3:GetObject", "s3:ListBucket"],
            vec![
                format!("arn:aws:s3:::{app}-data-{account}"),
                format!("arn:aws:s3:::{app}-data-{account}/*"),
            ],
        ),
        1 => allow(
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            vec![format!("arn:aws:logs:*:{account}:log-group:/{app}/*")],
        ),
        2 => allow(
            &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
            vec![format!("arn:aws:dynamodb:{region}:{account}:table/{app}-*")],
        ),
        3 => allow(
            &["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"],
            vec![format!("arn:aws:sqs:{region}:{account}:{app}-queue")],
        ),
        4 => allow(&["kms:Decrypt"], vec!["*".to_string()]),
        5 => allow(
            &["ec2:Describe*", "cloudwatch:GetMetricData"],
            vec!["*".to_string()],
        ),
        _ => J::O(vec![
            ("Effect", s("Deny")),
            ("Action", s("s3:DeleteBucket")),
            ("Resource", s("*")),
        ]),
    }
}

/// A random permissions document, percent-encoded.
pub(crate) fn random_policy(rng: &mut Rng, account: &str, region: &str, pretty: bool) -> String {
    let app = ids::word(rng, APPS);
    let n = rng.usize(1..=3);
    encode(
        (0..n)
            .map(|_| statement(rng, account, region, app))
            .collect(),
        pretty,
    )
}

fn trust(rng: &mut Rng, kind: RoleKind, account: &str) -> String {
    let principal = match kind {
        RoleKind::Ec2 => ("Service", s("ec2.amazonaws.com")),
        RoleKind::Lambda => ("Service", s("lambda.amazonaws.com")),
        RoleKind::Ecs => ("Service", s("ecs-tasks.amazonaws.com")),
        RoleKind::CrossAccount => {
            let other = 111_122_220_001_u64 + u64::from(rng.u16(100..999));
            let other = if other.to_string() == account {
                other + 1
            } else {
                other
            };
            ("AWS", s(format!("arn:aws:iam::{other:012}:root")))
        }
    };
    encode(
        vec![J::O(vec![
            ("Effect", s("Allow")),
            ("Principal", J::O(vec![principal])),
            ("Action", s("sts:AssumeRole")),
        ])],
        false,
    )
}

// ---- skeleton ---------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RoleKind {
    Ec2,
    Lambda,
    Ecs,
    CrossAccount,
}

struct Inline {
    name: String,
    doc: String,
}

struct PolicySk {
    id: String,
    name: String,
    path: &'static str,
    created: i64,
    /// Oldest first: (encoded document, create time).
    versions: Vec<(String, i64)>,
    attachments: u32,
    boundary_uses: u32,
}

struct RoleSk {
    id: String,
    name: String,
    created: i64,
    trust: String,
    profile: Option<(Profile, i64)>,
    inline: Vec<Inline>,
    customer: Vec<usize>,
    managed: Vec<usize>,
    tags: Tags,
    last_used: i64,
    last_region: String,
}

struct UserSk {
    id: String,
    name: String,
    path: &'static str,
    created: i64,
    inline: Vec<Inline>,
    groups: Vec<usize>,
    customer: Vec<usize>,
    boundary: Option<usize>,
    tags: Tags,
}

struct GroupSk {
    id: String,
    name: String,
    created: i64,
    inline: Vec<Inline>,
    customer: Vec<usize>,
    managed: Vec<usize>,
}

/// The IAM estate of one account.
pub(crate) struct IamAccount {
    account: String,
    policies: Vec<PolicySk>,
    roles: Vec<RoleSk>,
    users: Vec<UserSk>,
    groups: Vec<GroupSk>,
}

/// Whole seconds, as IAM reports its dates.
fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

/// Up to `max` distinct indexes below `n` (how many is drawn too).
fn distinct(rng: &mut Rng, n: usize, max: usize) -> Vec<usize> {
    let k = rng.usize(0..=max);
    let mut out: Vec<usize> = Vec::with_capacity(k);
    if n == 0 {
        return out;
    }
    for _ in 0..k.min(n) * 2 {
        if out.len() == k.min(n) {
            break;
        }
        let i = rng.usize(..n);
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Up to `max` inline policies.
fn inline(rng: &mut Rng, account: &str, region: &str, max: usize) -> Vec<Inline> {
    let n = rng.usize(0..=max);
    (0..n)
        .map(|i| Inline {
            name: format!(
                "{}-{}-inline-{i}",
                ids::word(rng, APPS),
                ids::word(rng, PURPOSES)
            ),
            doc: random_policy(rng, account, region, false),
        })
        .collect()
}

fn team_tags(rng: &mut Rng) -> Tags {
    super::tags(&[
        ("team", ids::word(rng, TEAMS)),
        ("env", ids::word(rng, &["prod", "staging", "dev"])),
    ])
}

impl IamAccount {
    pub(crate) fn new(
        rng: &mut Rng,
        account: &str,
        counts: IamCounts,
        start_ms: i64,
        regions: &[String],
    ) -> Self {
        let home = regions.first().map_or("us-east-1", String::as_str);
        let ago = |rng: &mut Rng, lo: i64, hi: i64| secs(start_ms - rng.i64(lo * DAY..hi * DAY));
        let mut policies: Vec<PolicySk> = (0..counts.policies)
            .map(|i| {
                let created = ago(rng, 60, 900);
                let n_versions = rng.usize(1..=3);
                let versions = (0..n_versions)
                    .map(|v| {
                        let at = created + v as i64 * rng.i64(DAY..20 * DAY);
                        (random_policy(rng, account, home, true), at)
                    })
                    .collect();
                PolicySk {
                    id: ids::iam_id(rng, "ANPA"),
                    name: format!("{}-{}-{i}", ids::word(rng, APPS), ids::word(rng, PURPOSES)),
                    path: if rng.bool() { "/" } else { "/app/" },
                    created,
                    versions,
                    attachments: 0,
                    boundary_uses: 0,
                }
            })
            .collect();
        let n_pol = policies.len();
        let groups: Vec<GroupSk> = (0..counts.groups)
            .map(|i| GroupSk {
                id: ids::iam_id(rng, "AGPA"),
                name: format!("{}-{i}", ids::word(rng, TEAMS)),
                created: ago(rng, 200, 1500),
                inline: inline(rng, account, home, 1),
                customer: distinct(rng, n_pol, 2),
                managed: distinct(rng, AWS_MANAGED.len(), 1),
            })
            .collect();
        let roles: Vec<RoleSk> = (0..counts.roles)
            .map(|i| {
                let kind = match rng.u8(..10) {
                    0..=4 => RoleKind::Ec2,
                    5..=6 => RoleKind::Lambda,
                    7..=8 => RoleKind::Ecs,
                    _ => RoleKind::CrossAccount,
                };
                let label = match kind {
                    RoleKind::Ec2 => "ec2",
                    RoleKind::Lambda => "lambda",
                    RoleKind::Ecs => "task",
                    RoleKind::CrossAccount => "xacct",
                };
                let name = format!("{}-{label}-{i}", ids::word(rng, APPS));
                let created = ago(rng, 30, 900);
                let profile = (kind == RoleKind::Ec2).then(|| {
                    (
                        Profile {
                            arn: format!("arn:aws:iam::{account}:instance-profile/{name}"),
                            id: ids::iam_id(rng, "AIPA"),
                            name: name.clone(),
                        },
                        created + 1000,
                    )
                });
                RoleSk {
                    id: ids::iam_id(rng, "AROA"),
                    trust: trust(rng, kind, account),
                    created,
                    profile,
                    inline: inline(rng, account, home, 2),
                    customer: distinct(rng, n_pol, 3),
                    managed: distinct(rng, AWS_MANAGED.len(), 2),
                    tags: team_tags(rng),
                    last_used: start_ms - rng.i64(0..30 * DAY),
                    last_region: ids::pick(rng, regions)
                        .map_or_else(|| home.to_string(), Clone::clone),
                    name,
                }
            })
            .collect();
        let n_groups = groups.len();
        let users: Vec<UserSk> = (0..counts.users)
            .map(|i| UserSk {
                id: ids::iam_id(rng, "AIDA"),
                name: format!("{}{i}", ids::word(rng, PEOPLE)),
                path: if rng.bool() { "/people/" } else { "/" },
                created: ago(rng, 10, 1500),
                inline: inline(rng, account, home, 1),
                groups: distinct(rng, n_groups, 2),
                customer: distinct(rng, n_pol, 2),
                boundary: (rng.u8(..10) < 3 && n_pol > 0).then(|| rng.usize(..n_pol)),
                tags: team_tags(rng),
            })
            .collect();
        let attached = roles
            .iter()
            .flat_map(|r| &r.customer)
            .chain(users.iter().flat_map(|u| &u.customer))
            .chain(groups.iter().flat_map(|g| &g.customer));
        for &p in attached {
            if let Some(p) = policies.get_mut(p) {
                p.attachments += 1;
            }
        }
        for p in users.iter().filter_map(|u| u.boundary) {
            if let Some(p) = policies.get_mut(p) {
                p.boundary_uses += 1;
            }
        }
        Self {
            account: account.to_string(),
            policies,
            roles,
            users,
            groups,
        }
    }

    /// Instance profiles of the account's EC2 roles, for instances to carry.
    pub(crate) fn profiles(&self) -> Vec<Profile> {
        self.roles
            .iter()
            .filter_map(|r| r.profile.as_ref().map(|(p, _)| p.clone()))
            .collect()
    }

    /// Every role of the account, for the service types that name one.
    pub(crate) fn role_refs(&self) -> Vec<crate::topology::RoleRef> {
        self.roles
            .iter()
            .map(|r| crate::topology::RoleRef {
                name: r.name.clone(),
                id: r.id.clone(),
                arn: format!("arn:aws:iam::{}:role/{}", self.account, r.name),
            })
            .collect()
    }

    fn policy_arn(&self, p: &PolicySk) -> String {
        format!("arn:aws:iam::{}:policy{}{}", self.account, p.path, p.name)
    }

    fn key(&self, resource_type: &str, id: &str) -> ResourceKey {
        ResourceKey::new(&self.account, types::GLOBAL_REGION, resource_type, id)
    }

    fn attached(&self, customer: &[usize], managed: &[usize]) -> (Value, Vec<Value>) {
        let mut list = Vec::new();
        let mut rels = Vec::new();
        for p in customer.iter().filter_map(|&i| self.policies.get(i)) {
            list.push(json!({"policyName": p.name, "policyArn": self.policy_arn(p)}));
            rels.push(rel(TO_POLICY, types::POLICY, &p.id, Some(&p.name)));
        }
        for (name, arn) in managed.iter().filter_map(|&i| AWS_MANAGED.get(i)) {
            list.push(json!({"policyName": name, "policyArn": arn}));
        }
        (Value::Array(list), rels)
    }

    /// Renders every document of the account.
    pub(crate) fn documents(&self) -> Vec<(ResourceKey, Value)> {
        let a = &self.account;
        let none = Tags::new();
        let mut out = Vec::with_capacity(
            self.policies.len() + self.roles.len() + self.users.len() + self.groups.len(),
        );
        for p in &self.policies {
            let arn = self.policy_arn(p);
            let n = p.versions.len();
            let versions: Vec<Value> = p
                .versions
                .iter()
                .enumerate()
                .rev()
                .map(|(i, (doc, at))| {
                    json!({
                        "document": doc,
                        "versionId": format!("v{}", i + 1),
                        "isDefaultVersion": i + 1 == n,
                        "createDate": iso(*at),
                    })
                })
                .collect();
            let updated = p.versions.last().map_or(p.created, |(_, at)| *at);
            let configuration = json!({
                "policyName": p.name,
                "policyId": p.id,
                "arn": arn,
                "path": p.path,
                "defaultVersionId": format!("v{n}"),
                "attachmentCount": p.attachments,
                "permissionsBoundaryUsageCount": p.boundary_uses,
                "isAttachable": true,
                "description": null,
                "createDate": iso(p.created),
                "updateDate": iso(updated),
                "policyVersionList": versions,
            });
            let doc = Top {
                arn,
                name: Some(&p.name),
                az: "Not Applicable",
                created: Some(iso(p.created)),
                tags: &none,
                relationships: Vec::new(),
            }
            .build(configuration, Map::new());
            out.push((self.key(types::POLICY, &p.id), doc));
        }
        for r in &self.roles {
            let arn = format!("arn:aws:iam::{a}:role/{}", r.name);
            let (attached, rels) = self.attached(&r.customer, &r.managed);
            let profiles: Vec<Value> = r
                .profile
                .iter()
                .map(|(p, at)| {
                    json!({
                        "path": "/",
                        "instanceProfileName": p.name,
                        "instanceProfileId": p.id,
                        "arn": p.arn,
                        "createDate": iso(*at),
                        "roles": [{
                            "path": "/",
                            "roleName": r.name,
                            "roleId": r.id,
                            "arn": arn,
                            "createDate": iso(r.created),
                            "assumeRolePolicyDocument": r.trust,
                            "description": null,
                            "maxSessionDuration": null,
                            "permissionsBoundary": null,
                            "tags": [],
                        }],
                    })
                })
                .collect();
            let configuration = json!({
                "path": "/",
                "roleName": r.name,
                "roleId": r.id,
                "arn": arn,
                "createDate": iso(r.created),
                "assumeRolePolicyDocument": r.trust,
                "instanceProfileList": profiles,
                "rolePolicyList": inline_list(&r.inline),
                "attachedManagedPolicies": attached,
                "permissionsBoundary": null,
                "tags": tag_list(&r.tags),
                "roleLastUsed": {"lastUsedDate": iso(r.last_used), "region": r.last_region},
            });
            let doc = Top {
                arn,
                name: Some(&r.name),
                az: "Not Applicable",
                created: Some(iso(r.created)),
                tags: &r.tags,
                relationships: rels,
            }
            .build(configuration, Map::new());
            out.push((self.key(types::ROLE, &r.id), doc));
        }
        for u in &self.users {
            let arn = format!("arn:aws:iam::{a}:user{}{}", u.path, u.name);
            let (attached, rels) = self.attached(&u.customer, &[]);
            let groups: Vec<&str> = u
                .groups
                .iter()
                .filter_map(|&g| self.groups.get(g))
                .map(|g| g.name.as_str())
                .collect();
            let boundary = u.boundary.and_then(|p| self.policies.get(p)).map(|p| {
                json!({
                    "permissionsBoundaryType": "PermissionsBoundaryPolicy",
                    "permissionsBoundaryArn": self.policy_arn(p),
                })
            });
            let configuration = json!({
                "path": u.path,
                "userName": u.name,
                "userId": u.id,
                "arn": arn,
                "createDate": iso(u.created),
                "userPolicyList": inline_list(&u.inline),
                "groupList": groups,
                "attachedManagedPolicies": attached,
                "permissionsBoundary": boundary,
                "tags": tag_list(&u.tags),
            });
            let doc = Top {
                arn,
                name: Some(&u.name),
                az: "Not Applicable",
                created: Some(iso(u.created)),
                tags: &u.tags,
                relationships: rels,
            }
            .build(configuration, Map::new());
            out.push((self.key(types::USER, &u.id), doc));
        }
        for g in &self.groups {
            let arn = format!("arn:aws:iam::{a}:group/{}", g.name);
            let (attached, rels) = self.attached(&g.customer, &g.managed);
            let configuration = json!({
                "path": "/",
                "groupName": g.name,
                "groupId": g.id,
                "arn": arn,
                "createDate": iso(g.created),
                "groupPolicyList": inline_list(&g.inline),
                "attachedManagedPolicies": attached,
            });
            let doc = Top {
                arn,
                name: Some(&g.name),
                az: "Not Applicable",
                created: Some(iso(g.created)),
                tags: &none,
                relationships: rels,
            }
            .build(configuration, Map::new());
            out.push((self.key(types::GROUP, &g.id), doc));
        }
        out
    }
}

fn inline_list(items: &[Inline]) -> Value {
    items
        .iter()
        .map(|i| json!({"policyName": i.name, "policyDocument": i.doc}))
        .collect()
}

// ---- edits -------------------------------------------------------------------------

/// The name, ARN and id of a policy document.
pub(crate) fn policy_ident(v: &Value) -> Option<(String, String, String)> {
    let c = v.get("configuration")?;
    let get = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    Some((get("policyName")?, get("arn")?, get("policyId")?))
}

/// Publishes `document` as the new default version, dropping the oldest beyond five.
pub(crate) fn add_version(v: &mut Value, document: String, now_ms: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let Some(list) = c.get_mut("policyVersionList").and_then(Value::as_array_mut) else {
        return false;
    };
    let next = list
        .iter()
        .filter_map(|x| {
            x.get("versionId")?
                .as_str()?
                .strip_prefix('v')?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
        + 1;
    for old in list.iter_mut().filter_map(Value::as_object_mut) {
        old.insert("isDefaultVersion".into(), false.into());
    }
    let id = format!("v{next}");
    list.insert(
        0,
        json!({"document": document, "versionId": id, "isDefaultVersion": true, "createDate": iso(now_ms)}),
    );
    list.truncate(MAX_VERSIONS);
    c.insert("defaultVersionId".into(), id.into());
    c.insert("updateDate".into(), iso(now_ms).into());
    true
}

/// Attaches customer-managed policy (`name`, `arn`, `id`) to a role, user or group.
pub(crate) fn attach(v: &mut Value, name: &str, arn: &str, id: &str) -> bool {
    if super::related(v, TO_POLICY).iter().any(|p| p == id) {
        return false;
    }
    let Some(list) = array_mut(v, &["configuration", "attachedManagedPolicies"]) else {
        return false;
    };
    if list.len() >= MAX_ATTACHED {
        return false;
    }
    list.push(json!({"policyName": name, "policyArn": arn}));
    let Some(rels) = array_mut(v, &["relationships"]) else {
        return false;
    };
    rels.push(rel(TO_POLICY, types::POLICY, id, Some(name)));
    true
}

/// Detaches customer-managed policy `id`: its relationship and its entry in
/// `attachedManagedPolicies` (found by the name the relationship carries).
pub(crate) fn detach(v: &mut Value, id: &str) -> bool {
    let Some(rels) = array_mut(v, &["relationships"]) else {
        return false;
    };
    let is_it = |r: &Value| {
        r.get("name").and_then(Value::as_str) == Some(TO_POLICY)
            && r.get("resourceId").and_then(Value::as_str) == Some(id)
    };
    let Some(i) = rels.iter().position(is_it) else {
        return false;
    };
    let removed = rels.remove(i);
    let name = removed.get("resourceName").and_then(Value::as_str);
    if let Some(list) = array_mut(v, &["configuration", "attachedManagedPolicies"]) {
        list.retain(|p| {
            let arn = p.get("policyArn").and_then(Value::as_str).unwrap_or("");
            p.get("policyName").and_then(Value::as_str) != name
                || arn.starts_with("arn:aws:iam::aws:")
        });
    }
    true
}

/// Moves a policy's `attachmentCount` (a volatile field) by `delta`.
pub(crate) fn bump_attachments(v: &mut Value, delta: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let n = c
        .get("attachmentCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    c.insert("attachmentCount".into(), (n + delta).max(0).into());
    true
}

/// Records a role use (the volatile `roleLastUsed`).
pub(crate) fn touch_role(v: &mut Value, at_ms: i64, region: &str) -> bool {
    match object_mut(v, &["configuration"]) {
        Some(c) => {
            c.insert(
                "roleLastUsed".into(),
                json!({"lastUsedDate": iso(secs(at_ms)), "region": region}),
            );
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_text_keeps_author_order() {
        let text = encode(vec![allow(&["a:B"], vec!["*".into()])], false);
        assert_eq!(
            text,
            ids::percent_encode(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"a:B","Resource":"*"}]}"#
            )
        );
        let pretty = encode(vec![allow(&["a:B", "a:C"], vec!["*".into()])], true);
        let decoded = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Action\": [\n        \"a:B\",\n        \"a:C\"\n      ],\n      \"Resource\": \"*\"\n    }\n  ]\n}";
        assert_eq!(pretty, ids::percent_encode(decoded));
    }

    #[test]
    fn versions_roll() {
        let mut v = json!({"configuration": {"policyVersionList": [
            {"document": "x", "versionId": "v1", "isDefaultVersion": true, "createDate": "t"}
        ], "defaultVersionId": "v1"}});
        for i in 0..6 {
            assert!(add_version(&mut v, format!("d{i}"), 0));
        }
        let list = v["configuration"]["policyVersionList"].as_array().unwrap();
        assert_eq!(list.len(), MAX_VERSIONS);
        assert_eq!(list[0]["versionId"], "v7");
        assert_eq!(list[0]["isDefaultVersion"], true);
        assert_eq!(list[1]["isDefaultVersion"], false);
        assert_eq!(v["configuration"]["defaultVersionId"], "v7");
    }
}
