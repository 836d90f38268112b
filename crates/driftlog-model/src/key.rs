use serde::{Deserialize, Serialize};
use std::fmt;
use xxhash_rust::xxh3::Xxh3;

/// Names one resource across the whole estate.
///
/// Global resource types (IAM) use the region `global`, as AWS Config does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceKey {
    /// 12-digit AWS account id.
    pub account: String,
    /// Region name, or `global`.
    pub region: String,
    /// AWS Config resource type, e.g. `AWS::EC2::SecurityGroup`.
    pub resource_type: String,
    /// The resource id as AWS Config records it (`sg-…`, `AROA…`, bucket name).
    pub resource_id: String,
}

impl ResourceKey {
    /// Builds a key from its four parts.
    pub fn new(
        account: impl Into<String>,
        region: impl Into<String>,
        resource_type: impl Into<String>,
        resource_id: impl Into<String>,
    ) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            resource_type: resource_type.into(),
            resource_id: resource_id.into(),
        }
    }

    /// A stable 128-bit identity used as the in-memory and on-disk key of a resource.
    ///
    /// It is xxh3-128 of the four parts joined by NUL, so it is the same in every process
    /// and every version of driftlog (unlike `RandomState`), and collisions are negligible
    /// at billions of resources.
    pub fn id_hash(&self) -> u128 {
        let mut h = Xxh3::new();
        h.update(self.resource_type.as_bytes());
        h.update(&[0]);
        h.update(self.account.as_bytes());
        h.update(&[0]);
        h.update(self.region.as_bytes());
        h.update(&[0]);
        h.update(self.resource_id.as_bytes());
        h.digest128()
    }

    /// The poll scope this resource belongs to.
    pub fn scope(&self) -> Scope {
        Scope {
            account: self.account.clone(),
            region: self.region.clone(),
            resource_type: self.resource_type.clone(),
        }
    }

    /// Parses the forms users type: `TYPE/ID` (any account and region, resolved later) or
    /// `ACCOUNT/REGION/TYPE/ID`.
    ///
    /// # Errors
    /// [`crate::Error::Resource`] when the text has neither form.
    pub fn parse_user(text: &str) -> crate::Result<ResourceRef> {
        let parts: Vec<&str> = text.split('/').collect();
        let bad = |reason| crate::Error::Resource {
            value: text.to_string(),
            reason,
        };
        match parts.as_slice() {
            [ty, id] if ty.contains("::") && !id.is_empty() => Ok(ResourceRef {
                account: None,
                region: None,
                resource_type: (*ty).to_string(),
                resource_id: (*id).to_string(),
            }),
            [acct, region, ty, id] if ty.contains("::") && !id.is_empty() => Ok(ResourceRef {
                account: Some((*acct).to_string()),
                region: Some((*region).to_string()),
                resource_type: (*ty).to_string(),
                resource_id: (*id).to_string(),
            }),
            _ => Err(bad(
                "expected TYPE/ID or ACCOUNT/REGION/TYPE/ID, e.g. AWS::EC2::SecurityGroup/sg-0a1b2c3d",
            )),
        }
    }
}

/// A resource as a user names it: account and region may be left out when the id is unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// Account, if given.
    pub account: Option<String>,
    /// Region, if given.
    pub region: Option<String>,
    /// Resource type.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
}

impl ResourceRef {
    /// True when `key` is the resource this reference names.
    pub fn matches(&self, key: &ResourceKey) -> bool {
        key.resource_type == self.resource_type
            && key.resource_id == self.resource_id
            && self.account.as_ref().is_none_or(|a| *a == key.account)
            && self.region.as_ref().is_none_or(|r| *r == key.region)
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.account, self.region, self.resource_type, self.resource_id
        )
    }
}

/// What one poll covers: one resource type in one account and region.
///
/// A deletion can only be inferred inside the scope of a complete snapshot, so a failure in
/// one scope never touches the resources of another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    /// Account id.
    pub account: String,
    /// Region, or `global`.
    pub region: String,
    /// Resource type.
    pub resource_type: String,
}

impl Scope {
    /// Builds a scope from its parts.
    pub fn new(
        account: impl Into<String>,
        region: impl Into<String>,
        resource_type: impl Into<String>,
    ) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            resource_type: resource_type.into(),
        }
    }

    /// True when `key` lies in this scope.
    pub fn contains(&self, key: &ResourceKey) -> bool {
        key.resource_type == self.resource_type
            && key.account == self.account
            && key.region == self.region
    }
}

impl Scope {
    /// A stable 128-bit identity of the scope (for maps keyed without allocation).
    pub fn hash(&self) -> u128 {
        Self::hash_parts(&self.account, &self.region, &self.resource_type)
    }

    /// [`Scope::hash`] from borrowed parts.
    pub fn hash_parts(account: &str, region: &str, resource_type: &str) -> u128 {
        let mut h = Xxh3::new();
        h.update(resource_type.as_bytes());
        h.update(&[0]);
        h.update(account.as_bytes());
        h.update(&[0]);
        h.update(region.as_bytes());
        h.digest128()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.account, self.region, self.resource_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: &str = "ec5bad7b7871a2847e62bfbbf92a6ca7";

    /// The id hash is part of the on-disk format (frame tables, reverse index): pin it.
    #[test]
    fn id_hash_is_stable() {
        let k = ResourceKey::new("111122223333", "eu-west-1", "AWS::EC2::VPC", "vpc-1");
        let joined = b"AWS::EC2::VPC\x00111122223333\x00eu-west-1\x00vpc-1";
        assert_eq!(k.id_hash(), xxhash_rust::xxh3::xxh3_128(joined));
        assert_eq!(format!("{:032x}", k.id_hash()), PINNED);
    }
}
