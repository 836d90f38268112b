//! IAM types, read with one paginated `GetAccountAuthorizationDetails` listing (the call
//! whose output AWS Config's IAM items mirror: `rolePolicyList`, `groupList`,
//! `policyVersionList`, ...), so that the four IAM types cost a handful of requests per
//! account rather than several per principal.

use crate::shape::{dedup, iso, iso_str, rel_named, tag_pairs, Listing};
use crate::AccountClients;
use aws_sdk_iam::types::{
    AttachedPermissionsBoundary, AttachedPolicy, EntityType, GroupDetail, ManagedPolicyDetail,
    PolicyDetail, RoleDetail, UserDetail,
};
use driftlog_model::{Document, Relationship};
use driftlog_poll::PollError;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub(crate) const ROLE: &str = "AWS::IAM::Role";
pub(crate) const USER: &str = "AWS::IAM::User";
pub(crate) const GROUP: &str = "AWS::IAM::Group";
pub(crate) const POLICY: &str = "AWS::IAM::Policy";

/// Every IAM type.
pub(crate) const TYPES: &[&str] = &[ROLE, USER, GROUP, POLICY];

/// Everything the account's IAM listing returned.
#[derive(Debug, Default)]
pub(crate) struct Details {
    roles: Vec<RoleDetail>,
    users: Vec<UserDetail>,
    groups: Vec<GroupDetail>,
    /// Customer-managed policies with their id and name.
    policies: Vec<(String, String, ManagedPolicyDetail)>,
}

/// The last listing of one account, shared between IAM polls that overlap: a caller reuses
/// a listing only if its fetch *started after the caller asked* (so it is no older than the
/// poll, and cannot undo a change recorded before the poll began). Callers queue on the
/// lock, so an account's IAM listings run one at a time, and the polls that waited during
/// one fetch share the next.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    last: tokio::sync::Mutex<Option<(Instant, Arc<Details>)>>,
}

impl Shared {
    /// A listing whose fetch started no earlier than this call.
    pub(crate) async fn get(&self, c: &AccountClients) -> Result<Arc<Details>, PollError> {
        let asked = Instant::now();
        let mut last = self.last.lock().await;
        if let Some((started, d)) = last.as_ref() {
            if *started >= asked {
                return Ok(d.clone());
            }
        }
        let started = Instant::now();
        let d = Arc::new(fetch(c).await?);
        *last = Some((started, d.clone()));
        Ok(d)
    }
}

async fn fetch(c: &AccountClients) -> Result<Details, PollError> {
    let mut d = Details::default();
    let req = c
        .iam
        .get_account_authorization_details()
        .filter(EntityType::Role)
        .filter(EntityType::User)
        .filter(EntityType::Group)
        .filter(EntityType::LocalManagedPolicy);
    let err = crate::shape::for_each_page!(
        c.iam_gate,
        "iam:GetAccountAuthorizationDetails",
        req,
        |page| {
            d.roles.extend(page.role_detail_list().iter().cloned());
            d.users.extend(page.user_detail_list().iter().cloned());
            d.groups.extend(page.group_detail_list().iter().cloned());
            d.policies.extend(page.policies().iter().map(|p| {
                (
                    p.policy_id().unwrap_or_default().to_string(),
                    p.policy_name().unwrap_or_default().to_string(),
                    p.clone(),
                )
            }));
        }
    );
    if err.is_none()
        && d.policies
            .iter()
            .any(|(id, name, _)| id.is_empty() || name.is_empty())
    {
        // Some AWS-compatible servers (moto) leave the id and name out of this listing;
        // ListPolicies has them.
        let mut names = HashMap::new();
        let req = c
            .iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local);
        let err = crate::shape::for_each_page!(c.iam_gate, "iam:ListPolicies", req, |page| {
            for p in page.policies() {
                if let Some(arn) = p.arn() {
                    names.insert(
                        arn.to_string(),
                        (
                            p.policy_id().unwrap_or_default().to_string(),
                            p.policy_name().unwrap_or_default().to_string(),
                        ),
                    );
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        for (id, name, p) in &mut d.policies {
            if let Some((i, n)) = names.get(p.arn().unwrap_or_default()) {
                if id.is_empty() {
                    *id = i.clone();
                }
                if name.is_empty() {
                    *name = n.clone();
                }
            }
        }
    }
    // A listing cut short would give principals without some of their policy edges: record
    // nothing rather than something wrong.
    match err {
        Some(e) => Err(e),
        None => Ok(d),
    }
}

/// Shapes one IAM type from a listing; `ids` narrows it to some resources.
pub(crate) fn shape(
    c: &AccountClients,
    d: &Details,
    resource_type: &str,
    ids: Option<&[String]>,
) -> Listing {
    let wanted = |id: &str| ids.is_none_or(|ids| ids.iter().any(|x| x == id));
    let index = Index::new(d);
    let mut out = Listing::default();
    let mut push = |id: &str, doc: Document| out.add(&c.account, "global", resource_type, id, &doc);
    match resource_type {
        ROLE => {
            for r in d
                .roles
                .iter()
                .filter(|r| wanted(r.role_id().unwrap_or_default()))
            {
                push(r.role_id().unwrap_or_default(), role(r, &index));
            }
        }
        USER => {
            for u in d
                .users
                .iter()
                .filter(|u| wanted(u.user_id().unwrap_or_default()))
            {
                push(u.user_id().unwrap_or_default(), user(u, &index));
            }
        }
        GROUP => {
            for g in d
                .groups
                .iter()
                .filter(|g| wanted(g.group_id().unwrap_or_default()))
            {
                push(g.group_id().unwrap_or_default(), group(g, &index));
            }
        }
        POLICY => {
            for (id, name, p) in d.policies.iter().filter(|(id, _, _)| wanted(id)) {
                push(id, policy(id, name, p, &index));
            }
        }
        other => out.fail(PollError::Source {
            code: "UnsupportedResourceType".into(),
            message: format!("{other} is not an IAM type this source records"),
        }),
    }
    out
}

/// Lookups between the four kinds, for the relationships.
struct Index<'a> {
    /// Customer-managed policy ARN → (id, name).
    policy_by_arn: HashMap<&'a str, (&'a str, &'a str)>,
    /// Group name → id.
    group_by_name: HashMap<&'a str, &'a str>,
    /// Group name → its users (id, name).
    users_of_group: HashMap<&'a str, Vec<(&'a str, &'a str)>>,
    /// Policy ARN → principals it is attached to: (type, id, name).
    attached_to: HashMap<&'a str, Vec<(&'static str, &'a str, &'a str)>>,
}

impl<'a> Index<'a> {
    fn new(d: &'a Details) -> Self {
        let mut ix = Index {
            policy_by_arn: HashMap::new(),
            group_by_name: HashMap::new(),
            users_of_group: HashMap::new(),
            attached_to: HashMap::new(),
        };
        for (id, name, p) in &d.policies {
            ix.policy_by_arn
                .insert(p.arn().unwrap_or_default(), (id.as_str(), name.as_str()));
        }
        for g in &d.groups {
            let (id, name) = (
                g.group_id().unwrap_or_default(),
                g.group_name().unwrap_or_default(),
            );
            ix.group_by_name.insert(name, id);
            for a in g.attached_managed_policies() {
                ix.attached_to
                    .entry(a.policy_arn().unwrap_or_default())
                    .or_default()
                    .push((GROUP, id, name));
            }
        }
        for u in &d.users {
            let (id, name) = (
                u.user_id().unwrap_or_default(),
                u.user_name().unwrap_or_default(),
            );
            for g in u.group_list() {
                ix.users_of_group
                    .entry(g.as_str())
                    .or_default()
                    .push((id, name));
            }
            for a in u.attached_managed_policies() {
                ix.attached_to
                    .entry(a.policy_arn().unwrap_or_default())
                    .or_default()
                    .push((USER, id, name));
            }
        }
        for r in &d.roles {
            let (id, name) = (
                r.role_id().unwrap_or_default(),
                r.role_name().unwrap_or_default(),
            );
            for a in r.attached_managed_policies() {
                ix.attached_to
                    .entry(a.policy_arn().unwrap_or_default())
                    .or_default()
                    .push((ROLE, id, name));
            }
        }
        ix
    }

    /// `Is attached to CustomerManagedPolicy` edges; AWS-managed policies are not recorded
    /// resources, so they get no edge.
    fn policy_edges(&self, attached: &[AttachedPolicy]) -> Vec<Relationship> {
        attached
            .iter()
            .filter_map(|a| self.policy_by_arn.get(a.policy_arn().unwrap_or_default()))
            .map(|(id, name)| rel_named("Is attached to CustomerManagedPolicy", POLICY, id, name))
            .collect()
    }
}

/// Characters AWS leaves bare when it percent-encodes a policy document (RFC 3986
/// unreserved); everything else, whitespace included, is encoded.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// IAM returns policy documents percent-encoded and AWS Config records them so; some
/// AWS-compatible servers return them decoded. A document that is still JSON text is
/// encoded the way IAM would, so rules written for AWS Config read ours the same way.
pub(crate) fn encoded(doc: Option<&str>) -> Value {
    match doc {
        None => Value::Null,
        Some(d) if d.trim_start().starts_with('{') => {
            Value::String(utf8_percent_encode(d, ENCODE).to_string())
        }
        Some(d) => Value::String(d.to_string()),
    }
}

fn inline(list: &[PolicyDetail]) -> Value {
    list.iter()
        .map(|p| json!({"policyName": p.policy_name(), "policyDocument": encoded(p.policy_document())}))
        .collect()
}

fn attached(list: &[AttachedPolicy]) -> Value {
    list.iter()
        .map(|p| json!({"policyName": p.policy_name(), "policyArn": p.policy_arn()}))
        .collect()
}

fn boundary(b: Option<&AttachedPermissionsBoundary>) -> Value {
    match b {
        None => Value::Null,
        Some(b) => json!({
            "permissionsBoundaryType": b.permissions_boundary_type().map(|t| t.as_str()),
            "permissionsBoundaryArn": b.permissions_boundary_arn(),
        }),
    }
}

fn iam_tags(t: &[aws_sdk_iam::types::Tag]) -> (Value, std::collections::BTreeMap<String, String>) {
    tag_pairs(t.iter().map(|t| (t.key(), t.value())))
}

fn role(r: &RoleDetail, ix: &Index<'_>) -> Document {
    let (tag_list, tag_map) = iam_tags(r.tags());
    let profiles: Value = r
        .instance_profile_list()
        .iter()
        .map(|p| {
            json!({
                "path": p.path(),
                "instanceProfileName": p.instance_profile_name(),
                "instanceProfileId": p.instance_profile_id(),
                "arn": p.arn(),
                "createDate": iso_str(p.create_date()),
                "roles": p.roles().iter().map(|x| json!({
                    "path": x.path(),
                    "roleName": x.role_name(),
                    "roleId": x.role_id(),
                    "arn": x.arn(),
                    "createDate": iso_str(x.create_date()),
                    "assumeRolePolicyDocument": encoded(x.assume_role_policy_document()),
                    "description": x.description(),
                    "maxSessionDuration": x.max_session_duration(),
                    "permissionsBoundary": boundary(x.permissions_boundary()),
                    "tags": iam_tags(x.tags()).0,
                })).collect::<Value>(),
            })
        })
        .collect();
    let configuration = json!({
        "path": r.path(),
        "roleName": r.role_name(),
        "roleId": r.role_id(),
        "arn": r.arn(),
        "createDate": iso(r.create_date()),
        "assumeRolePolicyDocument": encoded(r.assume_role_policy_document()),
        "instanceProfileList": profiles,
        "rolePolicyList": inline(r.role_policy_list()),
        "attachedManagedPolicies": attached(r.attached_managed_policies()),
        "permissionsBoundary": boundary(r.permissions_boundary()),
        "tags": tag_list,
        "roleLastUsed": r.role_last_used().map(|u| json!({"lastUsedDate": iso(u.last_used_date()), "region": u.region()})),
    });
    Document {
        arn: r.arn().map(str::to_string),
        resource_name: r.role_name().map(str::to_string),
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: r.create_date().map(iso_str),
        tags: tag_map,
        relationships: dedup(ix.policy_edges(r.attached_managed_policies())),
        configuration,
        ..Document::default()
    }
}

fn user(u: &UserDetail, ix: &Index<'_>) -> Document {
    let (tag_list, tag_map) = iam_tags(u.tags());
    let configuration = json!({
        "path": u.path(),
        "userName": u.user_name(),
        "userId": u.user_id(),
        "arn": u.arn(),
        "createDate": iso(u.create_date()),
        "userPolicyList": inline(u.user_policy_list()),
        "groupList": u.group_list(),
        "attachedManagedPolicies": attached(u.attached_managed_policies()),
        "permissionsBoundary": boundary(u.permissions_boundary()),
        "tags": tag_list,
    });
    let mut rels = ix.policy_edges(u.attached_managed_policies());
    for g in u.group_list() {
        if let Some(id) = ix.group_by_name.get(g.as_str()) {
            rels.push(rel_named("Is attached to Group", GROUP, id, g));
        }
    }
    Document {
        arn: u.arn().map(str::to_string),
        resource_name: u.user_name().map(str::to_string),
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: u.create_date().map(iso_str),
        tags: tag_map,
        relationships: dedup(rels),
        configuration,
        ..Document::default()
    }
}

fn group(g: &GroupDetail, ix: &Index<'_>) -> Document {
    let name = g.group_name().unwrap_or_default();
    let configuration = json!({
        "path": g.path(),
        "groupName": g.group_name(),
        "groupId": g.group_id(),
        "arn": g.arn(),
        "createDate": iso(g.create_date()),
        "groupPolicyList": inline(g.group_policy_list()),
        "attachedManagedPolicies": attached(g.attached_managed_policies()),
    });
    let mut rels = ix.policy_edges(g.attached_managed_policies());
    if let Some(users) = ix.users_of_group.get(name) {
        for (id, user) in users {
            rels.push(rel_named("Contains User", USER, id, user));
        }
    }
    Document {
        arn: g.arn().map(str::to_string),
        resource_name: g.group_name().map(str::to_string),
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: g.create_date().map(iso_str),
        tags: Default::default(),
        relationships: dedup(rels),
        configuration,
        ..Document::default()
    }
}

fn policy(id: &str, name: &str, p: &ManagedPolicyDetail, ix: &Index<'_>) -> Document {
    // All versions, newest first, as AWS Config records them.
    let mut versions: Vec<_> = p.policy_version_list().iter().collect();
    versions
        .sort_by_key(|v| std::cmp::Reverse(v.create_date().map(|d| (d.secs(), d.subsec_nanos()))));
    let configuration = json!({
        "policyName": name,
        "policyId": id,
        "arn": p.arn(),
        "path": p.path(),
        "defaultVersionId": p.default_version_id(),
        "attachmentCount": p.attachment_count(),
        "permissionsBoundaryUsageCount": p.permissions_boundary_usage_count(),
        "isAttachable": p.is_attachable(),
        "description": p.description(),
        "createDate": iso(p.create_date()),
        "updateDate": iso(p.update_date()),
        "policyVersionList": versions.iter().map(|v| json!({
            "document": encoded(v.document()),
            "versionId": v.version_id(),
            "isDefaultVersion": v.is_default_version(),
            "createDate": iso(v.create_date()),
        })).collect::<Value>(),
    });
    let mut rels = Vec::new();
    if let Some(ps) = ix.attached_to.get(p.arn().unwrap_or_default()) {
        for (ty, id, name) in ps {
            let word = ty.rsplit("::").next().unwrap_or_default();
            rels.push(rel_named(&format!("Is attached to {word}"), ty, id, name));
        }
    }
    Document {
        arn: p.arn().map(str::to_string),
        resource_name: Some(name.to_string()),
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: p.create_date().map(iso_str),
        tags: Default::default(),
        relationships: dedup(rels),
        configuration,
        ..Document::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_encoded_as_iam_does() {
        // From the reference CI: compact JSON becomes %7B%22...; whitespace is encoded too.
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#;
        assert_eq!(
            encoded(Some(doc)),
            json!("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Deny%22%2C%22Action%22%3A%22s3%3ADeleteBucket%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D")
        );
        assert_eq!(
            encoded(Some("{\n  \"a\": 1}")),
            json!("%7B%0A%20%20%22a%22%3A%201%7D")
        );
        // Already encoded (real IAM): kept verbatim.
        assert_eq!(encoded(Some("%7B%7D")), json!("%7B%7D"));
        assert_eq!(encoded(None), Value::Null);
    }
}
