use crate::item::Status;
use crate::key::ResourceKey;
use crate::{Error, Result};

/// A resource-type pattern: an exact AWS type name or a glob with `*` (`AWS::EC2::*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypePattern(String);

impl TypePattern {
    /// Accepts a type name or glob.
    ///
    /// # Errors
    /// [`Error::Filter`] for an empty pattern.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        if t.is_empty() {
            return Err(Error::Filter {
                field: "type",
                value: text.to_string(),
                reason: "empty; use a type like AWS::EC2::SecurityGroup or a glob like AWS::EC2::*"
                    .into(),
            });
        }
        Ok(Self(t.to_string()))
    }

    /// True when `resource_type` matches.
    pub fn matches(&self, resource_type: &str) -> bool {
        glob(self.0.as_bytes(), resource_type.as_bytes())
    }
}

/// True when `text` matches `pattern`, where `*` matches any run of characters (the
/// globs of types, and of principals in `tail --by 'arn:aws:iam::*:user/*'`).
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    glob(pattern.as_bytes(), text.as_bytes())
}

/// `*` matches any run of characters, everything else matches itself.
fn glob(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pat.len() && pat[p] != b'*' && pat[p] == text[t] {
            p += 1;
            t += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Which configuration items a subscriber, `tail` or a sink wants. An empty list in a field
/// means "any"; fields combine with AND, values inside a field with OR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Resource types or globs.
    pub types: Vec<TypePattern>,
    /// Account ids.
    pub accounts: Vec<String>,
    /// Regions (`global` for IAM).
    pub regions: Vec<String>,
    /// Item statuses.
    pub statuses: Vec<Status>,
    /// Resource ids.
    pub resource_ids: Vec<String>,
}

impl Filter {
    /// True when an item of `key` with `status` passes.
    pub fn matches(&self, key: &ResourceKey, status: Status) -> bool {
        self.matches_parts(
            &key.account,
            &key.region,
            &key.resource_type,
            &key.resource_id,
            status,
        )
    }

    /// The same test on borrowed parts, so scans over the log need no key allocation.
    pub fn matches_parts(
        &self,
        account: &str,
        region: &str,
        resource_type: &str,
        resource_id: &str,
        status: Status,
    ) -> bool {
        (self.types.is_empty() || self.types.iter().any(|p| p.matches(resource_type)))
            && (self.accounts.is_empty() || self.accounts.iter().any(|a| a == account))
            && (self.regions.is_empty() || self.regions.iter().any(|r| r == region))
            && (self.statuses.is_empty() || self.statuses.contains(&status))
            && (self.resource_ids.is_empty() || self.resource_ids.iter().any(|r| r == resource_id))
    }

    /// True when the filter lets everything through.
    pub fn is_any(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("AWS::EC2::*", "AWS::EC2::SecurityGroup", true),
            ("AWS::EC2::*", "AWS::IAM::Role", false),
            ("*Group", "AWS::EC2::SecurityGroup", true),
            ("AWS::*::Role", "AWS::IAM::Role", true),
            ("AWS::EC2::VPC", "AWS::EC2::VPC", true),
            ("AWS::EC2::VPC", "AWS::EC2::VPCX", false),
            ("*", "anything", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(TypePattern::parse(p).unwrap().matches(t), want, "{p} {t}");
        }
    }

    #[test]
    fn fields_and_together() {
        let key = ResourceKey::new("111122223333", "eu-west-1", "AWS::EC2::VPC", "vpc-1");
        let mut f = Filter {
            types: vec![TypePattern::parse("AWS::EC2::*").unwrap()],
            ..Filter::default()
        };
        assert!(f.matches(&key, Status::Ok));
        f.regions = vec!["us-east-1".into()];
        assert!(!f.matches(&key, Status::Ok));
        f.regions.push("eu-west-1".into());
        f.statuses = vec![Status::ResourceDeleted];
        assert!(!f.matches(&key, Status::Ok));
        assert!(f.matches(&key, Status::ResourceDeleted));
    }
}
