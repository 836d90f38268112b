//! How many resources of each service type (issue 15's twenty types) to build, on top of
//! the original fourteen types' plan, which stays exactly as it was.
//!
//! The service types add [`SERVICE_SHARE`](crate::plan::SERVICE_SHARE) of the original estate's size, so they make up
//! about a fifth of the whole. Their mix ([`MIX`], per mille of that share) follows what
//! real accounts hold: many functions, queues, alarms, topics and addresses; fewer
//! databases, load balancers and repositories; a handful of EKS and Aurora clusters; one
//! trail, one default KMS key and one alerts topic per account and region on top.
//!
//! At 2,500 resources (2,000 original ones in 30 VPCs over 4 account/region pairs) that is
//! 552 service resources, 22% of the 2,552: 70 functions (2.7% of the estate),
//! 55 queues and 55 alarms (2.2% each), 44 topics (1.7%), 40 EIPs (1.6%, half of them held
//! by the 20 NAT gateways), 30 tables, 30 secrets and 30 DB instances (1.2% each, ten of
//! the instances Aurora members), 25 VPC endpoints (1.0%), 24 KMS keys (0.9%), 22
//! listeners (0.9%: an HTTP one per load balancer, an HTTPS one for most), 20 each of NAT
//! gateways, flow logs, repositories, DB subnet groups and DB snapshots (0.8% each), 13
//! load balancers (0.5%), 5 DB clusters, 5 EKS clusters and 4 trails (0.2% each).

/// Which service resources one VPC's unit builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ServiceCounts {
    pub functions: usize,
    pub queues: usize,
    pub alarms: usize,
    pub topics: usize,
    pub eips: usize,
    pub tables: usize,
    pub secrets: usize,
    pub keys: usize,
    pub endpoints: usize,
    pub nats: usize,
    pub flow_logs: usize,
    pub repositories: usize,
    pub db_instances: usize,
    pub snapshots: usize,
    pub subnet_groups: usize,
    pub load_balancers: usize,
    pub clusters: usize,
    pub eks: usize,
}

/// Per mille of the service share, per kind, at least one of each (listeners come one per load balancer, Aurora
/// members two per cluster, trails and default keys one per account and region).
pub(crate) const MIX: &[(&str, u32)] = &[
    ("functions", 140),
    ("queues", 110),
    ("alarms", 110),
    ("topics", 80),
    ("eips", 80),
    ("tables", 60),
    ("secrets", 60),
    ("keys", 40),
    ("endpoints", 50),
    ("nats", 40),
    ("flow_logs", 40),
    ("repositories", 40),
    ("db_instances", 40),
    ("snapshots", 40),
    ("subnet_groups", 25),
    ("load_balancers", 25),
    ("clusters", 10),
    ("eks", 10),
];

fn share(total: usize, parts: usize, i: usize) -> usize {
    match (total.checked_div(parts), total.checked_rem(parts)) {
        (Some(q), Some(r)) => q + usize::from(i < r),
        _ => 0,
    }
}

/// The service counts of every VPC unit, given the original plan's size and VPC count.
pub(crate) fn per_vpc(original_total: usize, n_vpcs: usize) -> Vec<ServiceCounts> {
    let total = (original_total as f64 * crate::plan::SERVICE_SHARE).round() as usize;
    let weight: u32 = MIX.iter().map(|(_, w)| w).sum();
    let of = |kind: &str| {
        let w = MIX.iter().find(|(k, _)| *k == kind).map_or(0, |(_, w)| *w);
        ((total as f64 * f64::from(w) / f64::from(weight.max(1))).round() as usize).max(1)
    };
    let totals = ServiceCounts {
        functions: of("functions"),
        queues: of("queues"),
        alarms: of("alarms"),
        topics: of("topics"),
        eips: of("eips"),
        tables: of("tables"),
        secrets: of("secrets"),
        keys: of("keys"),
        endpoints: of("endpoints"),
        nats: of("nats"),
        flow_logs: of("flow_logs"),
        repositories: of("repositories"),
        db_instances: of("db_instances"),
        snapshots: of("snapshots"),
        subnet_groups: of("subnet_groups"),
        load_balancers: of("load_balancers"),
        clusters: of("clusters"),
        eks: of("eks"),
    };
    (0..n_vpcs)
        .map(|g| {
            // Rare kinds start at a different VPC each, so that small estates still hold
            // one of each somewhere instead of all in the first VPC.
            let at = |n: usize, offset: usize| {
                share(
                    n,
                    n_vpcs,
                    (g + n_vpcs - offset % n_vpcs.max(1)) % n_vpcs.max(1),
                )
            };
            ServiceCounts {
                functions: at(totals.functions, 0),
                queues: at(totals.queues, 1),
                alarms: at(totals.alarms, 2),
                topics: at(totals.topics, 3),
                eips: at(totals.eips, 4),
                tables: at(totals.tables, 5),
                secrets: at(totals.secrets, 6),
                keys: at(totals.keys, 7),
                endpoints: at(totals.endpoints, 8),
                nats: at(totals.nats, 9),
                flow_logs: at(totals.flow_logs, 10),
                repositories: at(totals.repositories, 11),
                db_instances: at(totals.db_instances, 12),
                snapshots: at(totals.snapshots, 13),
                subnet_groups: at(totals.subnet_groups, 14),
                load_balancers: at(totals.load_balancers, 15),
                clusters: at(totals.clusters, 16),
                eks: at(totals.eks, 17),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_somewhere_even_when_small() {
        let units = per_vpc(100, 4);
        let sum = |f: fn(&ServiceCounts) -> usize| units.iter().map(f).sum::<usize>();
        assert_eq!(sum(|c| c.eks), 1);
        assert!(sum(|c| c.functions) >= 3);
        let big = per_vpc(1_000_000, 16_000);
        let total: usize = big
            .iter()
            .map(|c| {
                c.functions
                    + c.queues
                    + c.alarms
                    + c.topics
                    + c.eips
                    + c.tables
                    + c.secrets
                    + c.keys
                    + c.endpoints
                    + c.nats
                    + c.flow_logs
                    + c.repositories
                    + c.db_instances
                    + c.snapshots
                    + c.subnet_groups
                    + c.load_balancers
                    + c.clusters
                    + c.eks
            })
            .sum();
        assert!((total as f64 - 250_000.0).abs() < 5_000.0, "{total}");
    }
}
