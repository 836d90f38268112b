/// What to simulate. Everything the estate does follows from these values, so two estates
/// built from equal configurations are identical, byte for byte, tick after tick.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every random choice (ids, shapes, churn). Default 42.
    pub seed: u64,
    /// Number of AWS accounts. Ids are 12 digits, `111122220001`, `111122220002`, ...
    /// Default 2.
    pub accounts: usize,
    /// Number of the first account: 1 gives `111122220001`. Recorders of one simulated
    /// organization take distinct ranges. Default 1.
    pub first_account: u64,
    /// Regions each account uses. IAM is global and ignores them. Default
    /// `["eu-west-1", "us-east-1"]`.
    pub regions: Vec<String>,
    /// Approximate number of resources in the whole estate, within 10% from about 500 up
    /// (every account and region gets at least one VPC and one of each service type, so
    /// very small values overshoot). About four fifths are the original fourteen types
    /// (VPC networking, instances, IAM, S3), a fifth the twenty service types (Lambda, RDS,
    /// KMS, ...). Default 2,000; 1,000,000 is supported.
    pub resources: usize,
    /// Fraction of the estate changed per tick: a tick applies `round(churn * len)`
    /// operations, at least one when `churn > 0`. Default 0.01.
    pub churn: f64,
    /// Simulated clock at creation, epoch milliseconds. Default 2024-05-01T10:00:00Z.
    pub start_ms: i64,
    /// Simulated time one tick advances the clock by, milliseconds. Default one minute.
    pub tick_ms: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            accounts: 2,
            first_account: 1,
            regions: vec!["eu-west-1".to_string(), "us-east-1".to_string()],
            resources: 2_000,
            churn: 0.01,
            start_ms: 1_714_557_600_000,
            tick_ms: 60_000,
        }
    }
}

impl SimConfig {
    /// The 12-digit ids of the simulated accounts, in order, so that callers (a poller
    /// configuration, a test) can name them without building the estate.
    pub fn account_ids(&self) -> Vec<String> {
        (0..self.accounts)
            .map(|i| {
                format!(
                    "{:012}",
                    111_122_220_000_u64 + self.first_account + i as u64
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        let ids = SimConfig::default().account_ids();
        assert_eq!(ids, vec!["111122220001", "111122220002"]);
    }
}
