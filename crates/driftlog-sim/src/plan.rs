//! How many resources of each kind to build so that the estate totals about
//! `SimConfig::resources`, decided before any document is built so that generation can be
//! split into independent units.

use crate::config::SimConfig;

/// Service resources per original resource.
pub(crate) const SERVICE_SHARE: f64 = 0.25;

/// How many of `resources` (the whole estate asked for) the original fourteen types get:
/// the rest, [`SERVICE_SHARE`] of them again, goes to the service types, so the estate
/// totals what was asked and benchmarks at a given size stay comparable.
pub(crate) fn original_share(resources: usize) -> usize {
    (resources as f64 / (1.0 + SERVICE_SHARE)).round() as usize
}

/// IAM resources of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IamCounts {
    pub roles: usize,
    pub users: usize,
    pub groups: usize,
    pub policies: usize,
}

/// One VPC: how many subnets, security groups and instances it holds. Each instance adds
/// a network interface and a volume; each VPC also has one NACL, route table and IGW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VpcPlan {
    /// Index of the (account, region) pair: `account * regions + region`.
    pub pair: usize,
    pub subnets: usize,
    pub sgs: usize,
    pub instances: usize,
}

/// Resources per VPC besides subnets, SGs and instances: the VPC, its NACL, route table
/// and internet gateway.
const VPC_FIXED: usize = 4;
/// Resources per instance: the instance, its ENI and its root volume.
pub(crate) const PER_INSTANCE: usize = 3;
/// Target size of one VPC with everything in it, which sets how many VPCs there are.
const VPC_TARGET: f64 = 60.0;

/// The whole estate's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Per account.
    pub iam: Vec<IamCounts>,
    /// Buckets per (account, region) pair.
    pub buckets: Vec<usize>,
    /// Every VPC, in generation order, pairs round-robin.
    pub vpcs: Vec<VpcPlan>,
}

fn share(total: usize, parts: usize, i: usize) -> usize {
    match (total.checked_div(parts), total.checked_rem(parts)) {
        (Some(q), Some(r)) => q + usize::from(i < r),
        _ => 0,
    }
}

fn frac(n: usize, f: f64) -> usize {
    (n as f64 * f).round() as usize
}

impl Plan {
    pub(crate) fn new(cfg: &SimConfig) -> Self {
        let accounts = cfg.accounts;
        let pairs = accounts * cfg.regions.len();
        // The original fourteen types take the estate's share left by the service types.
        let n = original_share(cfg.resources);
        if accounts == 0 {
            return Self {
                iam: Vec::new(),
                buckets: Vec::new(),
                vpcs: Vec::new(),
            };
        }
        // About 8% IAM, 2% S3, the rest EC2; IAM takes everything when there is no region.
        let iam_total = if pairs == 0 {
            n.max(4 * accounts)
        } else {
            frac(n, 0.08).max(4 * accounts)
        };
        let iam = (0..accounts)
            .map(|a| {
                let x = share(iam_total, accounts, a).max(4);
                let groups = frac(x, 0.08).max(1);
                let users = frac(x, 0.25).max(1);
                let policies = frac(x, 0.30).max(1);
                let roles = x.saturating_sub(groups + users + policies).max(1);
                IamCounts {
                    roles,
                    users,
                    groups,
                    policies,
                }
            })
            .collect();
        let s3_total = if pairs == 0 {
            0
        } else {
            frac(n, 0.02).max(pairs)
        };
        let buckets = (0..pairs).map(|p| share(s3_total, pairs, p)).collect();
        let ec2 = if pairs == 0 {
            0
        } else {
            n.saturating_sub(iam_total + s3_total)
        };
        let n_vpcs = if pairs == 0 {
            0
        } else {
            ((ec2 as f64 / VPC_TARGET).round() as usize).max(pairs)
        };
        let per_vpc = if n_vpcs == 0 {
            0.0
        } else {
            ec2 as f64 / n_vpcs as f64
        };
        let subnets = ((per_vpc / 15.0).round() as usize).clamp(2, 4);
        let sgs = ((per_vpc / 10.0).round() as usize).clamp(2, 6);
        let infra = n_vpcs * (VPC_FIXED + subnets + sgs);
        let instances = (ec2.saturating_sub(infra) as f64 / PER_INSTANCE as f64).round() as usize;
        let vpcs = (0..n_vpcs)
            .map(|g| VpcPlan {
                pair: g % pairs.max(1),
                subnets,
                sgs,
                instances: share(instances, n_vpcs, g),
            })
            .collect();
        Self { iam, buckets, vpcs }
    }

    /// The number of resources this plan builds.
    pub(crate) fn total(&self) -> usize {
        let iam: usize = self
            .iam
            .iter()
            .map(|c| c.roles + c.users + c.groups + c.policies)
            .sum();
        let s3: usize = self.buckets.iter().sum();
        let ec2: usize = self
            .vpcs
            .iter()
            .map(|v| VPC_FIXED + v.subnets + v.sgs + PER_INSTANCE * v.instances)
            .sum();
        iam + s3 + ec2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_track_the_request() {
        for n in [100, 1_000, 2_000, 20_000, 1_000_000] {
            let cfg = SimConfig {
                resources: n,
                ..SimConfig::default()
            };
            let plan = Plan::new(&cfg);
            let total = plan.total() as f64;
            // The original types' share of the estate; the service types take the rest.
            let want = original_share(n) as f64;
            assert!(
                (total - want).abs() <= 0.05 * want,
                "{n} -> {total}, want {want}"
            );
        }
    }

    #[test]
    fn no_regions_means_only_iam() {
        let cfg = SimConfig {
            regions: Vec::new(),
            resources: 50,
            ..SimConfig::default()
        };
        let plan = Plan::new(&cfg);
        assert!(plan.vpcs.is_empty() && plan.buckets.is_empty());
        assert_eq!(plan.total(), 40, "the original types' four fifths of 50");
    }
}
