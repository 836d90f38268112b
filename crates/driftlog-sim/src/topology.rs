//! A small index of how the estate hangs together (which subnets and security groups a VPC
//! has, which instance profiles an account offers), so that churn can launch an instance or
//! change its security groups without scanning or parsing other documents.
//!
//! It is a hint, not the truth: test hooks can remove or replace resources behind its back,
//! so every use checks the store first.

use crate::ids::{self, DOMAIN_PAIR};
use crate::types;
use std::collections::BTreeMap;

/// An IAM instance profile an instance can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pub name: String,
    pub id: String,
    pub arn: String,
}

/// An IAM role other resources name (a function's execution role, a cluster's role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleRef {
    pub name: String,
    pub id: String,
    pub arn: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AccountTopo {
    pub id: String,
    pub profiles: Vec<Profile>,
    /// Every role of the account (roles are never deleted by churn).
    pub roles: Vec<RoleRef>,
}

/// Per (account, region) constants shared by every resource there.
#[derive(Debug, Clone)]
pub(crate) struct PairTopo {
    pub account: usize,
    pub region: String,
    pub kms_key: String,
    pub amis: Vec<String>,
    pub dhcp_options: String,
}

#[derive(Debug, Clone)]
pub(crate) struct SubnetTopo {
    pub id: String,
    pub az_index: usize,
    pub octet: u8,
    pub public: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct SgTopo {
    pub id: String,
    pub name: String,
}

/// An instance as generated, for the service types that attach to one (an EIP).
#[derive(Debug, Clone)]
pub(crate) struct InstanceRef {
    pub id: String,
    pub eni: String,
    pub private_ip: String,
}

#[derive(Debug, Clone)]
pub(crate) struct VpcTopo {
    pub pair: usize,
    pub id: String,
    pub octet: u8,
    pub env: &'static str,
    pub subnets: Vec<SubnetTopo>,
    pub sgs: Vec<SgTopo>,
    /// The VPC's route table (gateway endpoints attach to it).
    pub rtb: String,
    /// The instances generation built (churn launches and terminates others: a hint).
    pub instances: Vec<InstanceRef>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Topology {
    pub accounts: Vec<AccountTopo>,
    pub pairs: Vec<PairTopo>,
    pub vpcs: Vec<VpcTopo>,
    pub vpc_index: BTreeMap<String, usize>,
}

impl Topology {
    pub(crate) fn new(seed: u64, accounts: &[String], regions: &[String]) -> Self {
        let mut pairs = Vec::with_capacity(accounts.len() * regions.len());
        for (a, account) in accounts.iter().enumerate() {
            for region in regions {
                let p = pairs.len() as u64;
                let mut rng = ids::rng_for(seed, DOMAIN_PAIR, p);
                pairs.push(PairTopo {
                    account: a,
                    region: region.clone(),
                    kms_key: format!("arn:aws:kms:{region}:{account}:key/{}", ids::uuid(&mut rng)),
                    amis: (0..4).map(|_| ids::ec2_id(&mut rng, "ami")).collect(),
                    dhcp_options: ids::ec2_id(&mut rng, "dopt"),
                });
            }
        }
        Self {
            accounts: accounts
                .iter()
                .map(|id| AccountTopo {
                    id: id.clone(),
                    profiles: Vec::new(),
                    roles: Vec::new(),
                })
                .collect(),
            pairs,
            vpcs: Vec::new(),
            vpc_index: BTreeMap::new(),
        }
    }

    pub(crate) fn add_vpc(&mut self, vpc: VpcTopo) {
        self.vpc_index.insert(vpc.id.clone(), self.vpcs.len());
        self.vpcs.push(vpc);
    }

    /// The account id and region of a pair.
    pub(crate) fn pair_names(&self, pair: usize) -> Option<(&str, &str)> {
        let p = self.pairs.get(pair)?;
        let a = self.accounts.get(p.account)?;
        Some((a.id.as_str(), p.region.as_str()))
    }

    /// The VPC `vpc_id` of `account` in `region`, if the index knows it.
    pub(crate) fn vpc(&self, account: &str, region: &str, vpc_id: &str) -> Option<&VpcTopo> {
        let v = self.vpcs.get(*self.vpc_index.get(vpc_id)?)?;
        (self.pair_names(v.pair)? == (account, region)).then_some(v)
    }
}

/// The scopes an estate over `accounts` and `regions` can hold resources in.
pub(crate) fn configured_scopes(
    accounts: &[String],
    regions: &[String],
) -> Vec<driftlog_model::Scope> {
    let mut out = Vec::new();
    for account in accounts {
        for region in regions {
            for ty in types::REGIONAL_TYPES {
                out.push(driftlog_model::Scope::new(account, region, *ty));
            }
        }
        for ty in types::GLOBAL_TYPES {
            out.push(driftlog_model::Scope::new(
                account,
                types::GLOBAL_REGION,
                *ty,
            ));
        }
    }
    out.sort();
    out
}
