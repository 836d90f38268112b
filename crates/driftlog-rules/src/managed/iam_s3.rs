//! IAM policy documents, S3 bucket access and required tags.

use super::*;

/// A percent-encoded (as IAM returns them) or plain policy document.
pub(super) fn policy_document(text: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()?;
    serde_json::from_str(&decoded).ok()
}

pub(super) fn listed(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}

pub(super) fn admin_policy(c: &Value) -> Result<Verdict, RuleError> {
    let versions = c["policyVersionList"].as_array();
    let default = versions
        .into_iter()
        .flatten()
        .find(|v| v["isDefaultVersion"] == Value::Bool(true))
        .ok_or_else(|| RuleError::Item("policyVersionList has no default version".into()))?;
    let doc = default["document"]
        .as_str()
        .and_then(policy_document)
        .ok_or_else(|| RuleError::Item("the default version's document is not a policy".into()))?;
    for s in statements(&doc) {
        if s["Effect"].as_str() == Some("Allow")
            && listed(&s["Action"]).contains(&"*")
            && listed(&s["Resource"]).contains(&"*")
        {
            return Ok(Verdict::non_compliant(format!(
                "version {} allows Action \"*\" on Resource \"*\"",
                default["versionId"].as_str().unwrap_or("?")
            )));
        }
    }
    Ok(Verdict::compliant())
}

#[derive(Clone, Copy)]
pub(super) enum Access {
    Read,
    Write,
}

pub(super) fn public_bucket(supp: &Value, access: Access) -> Verdict {
    let pab = &supp["PublicAccessBlockConfiguration"];
    let on = |k: &str| pab[k] == Value::Bool(true);
    let acl_blocked = on("ignorePublicAcls");
    let policy_blocked = on("restrictPublicBuckets");
    let word = match access {
        Access::Read => "read",
        Access::Write => "write",
    };
    if !acl_blocked {
        let acl: Value = match &supp["AccessControlList"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            v => v.clone(),
        };
        for g in acl["grantList"].as_array().into_iter().flatten() {
            let grantee = match &g["grantee"] {
                Value::String(s) => s.clone(),
                v => v["uri"]
                    .as_str()
                    .or(v["id"].as_str())
                    .unwrap_or("")
                    .to_string(),
            };
            let public = grantee.ends_with("AllUsers") || grantee.ends_with("AuthenticatedUsers");
            let perm = g["permission"].as_str().unwrap_or("");
            let grants = match access {
                Access::Read => matches!(perm, "Read" | "FullControl" | "READ" | "FULL_CONTROL"),
                Access::Write => matches!(perm, "Write" | "FullControl" | "WRITE" | "FULL_CONTROL"),
            };
            if public && grants {
                return Verdict::non_compliant(format!(
                    "the bucket ACL grants {perm} to {grantee}"
                ));
            }
        }
    }
    if !policy_blocked {
        let policy = supp["BucketPolicy"]["policyText"]
            .as_str()
            .and_then(|t| serde_json::from_str::<Value>(t).ok());
        if let Some(p) = policy {
            for s in statements(&p) {
                let anyone = match &s["Principal"] {
                    Value::String(x) => x == "*",
                    Value::Object(m) => m.get("AWS").is_some_and(|a| listed(a).contains(&"*")),
                    _ => false,
                };
                if s["Effect"].as_str() != Some("Allow") || !anyone || s.get("Condition").is_some()
                {
                    continue;
                }
                let actions = listed(&s["Action"]);
                let hit = actions.iter().any(|a| {
                    let a = a.to_ascii_lowercase();
                    a == "*"
                        || a == "s3:*"
                        || match access {
                            Access::Read => {
                                a == "s3:getobject" || a == "s3:get*" || a == "s3:listbucket"
                            }
                            Access::Write => {
                                a == "s3:putobject" || a == "s3:put*" || a == "s3:deleteobject"
                            }
                        }
                });
                if hit {
                    return Verdict::non_compliant(format!(
                        "the bucket policy allows public {word} ({})",
                        actions.join(", ")
                    ));
                }
            }
        }
    }
    Verdict::compliant()
}

pub(super) fn required_tags(params: &Map<String, Value>, tags: &Value) -> Verdict {
    let mut missing = Vec::new();
    for i in 1..=6 {
        let Some(key) = param(params, &format!("tag{i}Key")) else {
            continue;
        };
        let allowed: Vec<String> = param(params, &format!("tag{i}Value"))
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let value = match tags {
            Value::Object(m) => m.get(&key).and_then(Value::as_str).map(str::to_string),
            Value::Array(a) => a
                .iter()
                .find(|t| t["key"].as_str() == Some(key.as_str()))
                .and_then(|t| t["value"].as_str().map(str::to_string)),
            _ => None,
        };
        match value {
            None => missing.push(format!("{key} is missing")),
            Some(v) if !allowed.is_empty() && !allowed.contains(&v) => {
                missing.push(format!("{key}={v} is not one of {}", allowed.join(",")));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        Verdict::compliant()
    } else {
        Verdict::non_compliant(missing.join("; "))
    }
}
