use driftlog_model::TypePattern;

/// Which resource types are recorded, as AWS Config's `recordingGroup`: everything, an
/// include list, or everything but an exclude list. Global types (IAM) can be left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingGroup {
    /// Types (or globs) to record; empty means all.
    pub include: Vec<TypePattern>,
    /// Types (or globs) never to record.
    pub exclude: Vec<TypePattern>,
    /// Record IAM and other global types.
    pub include_global: bool,
}

impl Default for RecordingGroup {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            include_global: true,
        }
    }
}

impl RecordingGroup {
    /// The scopes of `source` this group records: what the scheduler polls and what a
    /// full poll covers.
    pub fn scopes_of(&self, source: &dyn crate::Source) -> Vec<driftlog_model::Scope> {
        source
            .scopes()
            .into_iter()
            .filter(|s| self.records(&s.resource_type))
            .collect()
    }

    /// True when `resource_type` is recorded.
    pub fn records(&self, resource_type: &str) -> bool {
        if !self.include_global && driftlog_model::spec_for(resource_type).global {
            return false;
        }
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(resource_type)))
            && !self.exclude.iter().any(|p| p.matches(resource_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_exclude_global() {
        let p = |s: &str| TypePattern::parse(s).unwrap();
        let all = RecordingGroup::default();
        assert!(all.records("AWS::IAM::Role"));
        let no_global = RecordingGroup {
            include_global: false,
            ..RecordingGroup::default()
        };
        assert!(!no_global.records("AWS::IAM::Role"));
        assert!(no_global.records("AWS::EC2::VPC"));
        let inc = RecordingGroup {
            include: vec![p("AWS::EC2::*")],
            ..RecordingGroup::default()
        };
        assert!(inc.records("AWS::EC2::VPC") && !inc.records("AWS::S3::Bucket"));
        let exc = RecordingGroup {
            exclude: vec![p("AWS::EC2::Volume")],
            ..RecordingGroup::default()
        };
        assert!(!exc.records("AWS::EC2::Volume") && exc.records("AWS::EC2::VPC"));
    }
}
