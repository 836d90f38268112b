/// What the diff stage must know about one resource type.
///
/// Paths are dotted from the top of the stored document (`configuration.ipPermissions`);
/// `*` stands for any array index.
#[derive(Debug)]
pub struct TypeSpec {
    /// AWS Config type name.
    pub resource_type: &'static str,
    /// Arrays whose order carries no meaning: they are stored sorted, so reordering alone
    /// changes neither the hash nor the diff, and they are diffed as sets.
    pub set_paths: &'static [&'static str],
    /// Fields that tick without being a configuration change (last-used timestamps). They are
    /// kept beside the document, neither hashed nor diffed, only counted when they change.
    pub volatile_paths: &'static [&'static str],
    /// True for types AWS Config records once per account (`awsRegion` = `global`).
    pub global: bool,
}

/// Arrays that are sets in every type.
const COMMON_SETS: &[&str] = &[
    "relationships",
    "configuration.tags",
    "configuration.tagSet",
];

/// Every resource type driftlog knows how to record, with its set-like and volatile paths.
pub static KNOWN_TYPES: &[TypeSpec] = &[
    TypeSpec {
        resource_type: "AWS::EC2::SecurityGroup",
        set_paths: &[
            "configuration.ipPermissions",
            "configuration.ipPermissionsEgress",
            "configuration.ipPermissions.*.ipRanges",
            "configuration.ipPermissions.*.ipv4Ranges",
            "configuration.ipPermissions.*.ipv6Ranges",
            "configuration.ipPermissions.*.prefixListIds",
            "configuration.ipPermissions.*.userIdGroupPairs",
            "configuration.ipPermissionsEgress.*.ipRanges",
            "configuration.ipPermissionsEgress.*.ipv4Ranges",
            "configuration.ipPermissionsEgress.*.ipv6Ranges",
            "configuration.ipPermissionsEgress.*.prefixListIds",
            "configuration.ipPermissionsEgress.*.userIdGroupPairs",
        ],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::NetworkAcl",
        set_paths: &["configuration.entries", "configuration.associations"],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::VPC",
        set_paths: &[
            "configuration.cidrBlockAssociationSet",
            "configuration.ipv6CidrBlockAssociationSet",
        ],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::Subnet",
        set_paths: &["configuration.ipv6CidrBlockAssociationSet"],
        volatile_paths: &["configuration.availableIpAddressCount"],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::Instance",
        set_paths: &[
            "configuration.securityGroups",
            "configuration.blockDeviceMappings",
            "configuration.networkInterfaces",
            "configuration.networkInterfaces.*.groups",
            "configuration.productCodes",
        ],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::NetworkInterface",
        set_paths: &[
            "configuration.groups",
            "configuration.privateIpAddresses",
            "configuration.ipv6Addresses",
        ],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::RouteTable",
        set_paths: &[
            "configuration.routes",
            "configuration.associations",
            "configuration.propagatingVgws",
        ],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::InternetGateway",
        set_paths: &["configuration.attachments"],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::Volume",
        set_paths: &["configuration.attachments"],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::IAM::Role",
        set_paths: &[
            "configuration.rolePolicyList",
            "configuration.attachedManagedPolicies",
            "configuration.instanceProfileList",
        ],
        volatile_paths: &["configuration.roleLastUsed"],
        global: true,
    },
    TypeSpec {
        resource_type: "AWS::IAM::User",
        set_paths: &[
            "configuration.userPolicyList",
            "configuration.attachedManagedPolicies",
            "configuration.groupList",
        ],
        volatile_paths: &["configuration.passwordLastUsed"],
        global: true,
    },
    TypeSpec {
        resource_type: "AWS::IAM::Group",
        set_paths: &[
            "configuration.groupPolicyList",
            "configuration.attachedManagedPolicies",
        ],
        volatile_paths: &[],
        global: true,
    },
    TypeSpec {
        resource_type: "AWS::IAM::Policy",
        set_paths: &[],
        volatile_paths: &["configuration.updateDate", "configuration.attachmentCount"],
        global: true,
    },
    TypeSpec {
        resource_type: "AWS::S3::Bucket",
        set_paths: &[],
        // ListBuckets' creation date moves when some bucket settings change (S3 documents
        // it): a new value alone is not a configuration change.
        volatile_paths: &["configuration.creationDate", "resourceCreationTime"],
        global: false,
    },
    // Functions: `layers` stays ordered (layer order matters).
    TypeSpec {
        resource_type: "AWS::Lambda::Function",
        set_paths: &[
            "configuration.vpcConfig.subnetIds",
            "configuration.vpcConfig.securityGroupIds",
            "configuration.architectures",
            "configuration.fileSystemConfigs",
        ],
        volatile_paths: &[
            "configuration.state",
            "configuration.stateReason",
            "configuration.stateReasonCode",
            "configuration.lastUpdateStatus",
            "configuration.lastUpdateStatusReason",
            "configuration.lastUpdateStatusReasonCode",
        ],
        global: false,
    },
    // DB instances: `latestRestorableTime` ticks every five minutes; status moves during maintenance.
    TypeSpec {
        resource_type: "AWS::RDS::DBInstance",
        set_paths: &[
            "configuration.vpcSecurityGroups",
            "configuration.dBSecurityGroups",
            "configuration.dBParameterGroups",
            "configuration.optionGroupMemberships",
            "configuration.dBSubnetGroup.subnets",
            "configuration.readReplicaDBInstanceIdentifiers",
            "configuration.readReplicaDBClusterIdentifiers",
            "configuration.enabledCloudwatchLogsExports",
            "configuration.associatedRoles",
            "configuration.domainMemberships",
            "configuration.tagList",
            "configuration.statusInfos",
            "configuration.dBInstanceAutomatedBackupsReplications",
            "supplementaryConfiguration.Tags",
        ],
        volatile_paths: &[
            "configuration.latestRestorableTime",
            "configuration.dBInstanceStatus",
            "configuration.pendingModifiedValues",
            "configuration.statusInfos",
        ],
        global: false,
    },
    // DB clusters: volatile values inside set-like arrays (the members' writer flags)
    // cannot be kept aside, since their indexes change when the set is sorted.
    TypeSpec {
        resource_type: "AWS::RDS::DBCluster",
        set_paths: &[
            "configuration.availabilityZones",
            "configuration.customEndpoints",
            "configuration.readReplicaIdentifiers",
            "configuration.vpcSecurityGroups",
            "configuration.associatedRoles",
            "configuration.enabledCloudwatchLogsExports",
            "configuration.domainMemberships",
            "configuration.tagList",
            "configuration.dbclusterOptionGroupMemberships",
            "configuration.dbclusterMembers",
            "supplementaryConfiguration.Tags",
        ],
        volatile_paths: &[
            "configuration.status",
            "configuration.percentProgress",
            "configuration.pendingModifiedValues",
            "configuration.capacity",
            "configuration.earliestBacktrackTime",
            "configuration.backtrackConsumedChangeRecords",
        ],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::RDS::DBSubnetGroup",
        set_paths: &[
            "configuration.subnets",
            "configuration.supportedNetworkTypes",
            "supplementaryConfiguration.Tags",
        ],
        volatile_paths: &["configuration.subnetGroupStatus"],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::RDS::DBSnapshot",
        set_paths: &[
            "configuration.processorFeatures",
            "configuration.tagList",
            "supplementaryConfiguration.DBSnapshotAttributes",
            "supplementaryConfiguration.DBSnapshotAttributes.*.attributeValues",
            "supplementaryConfiguration.Tags",
        ],
        volatile_paths: &["configuration.status", "configuration.percentProgress"],
        global: false,
    },
    // KMS keys: pending deletion is a real change, so nothing is volatile.
    TypeSpec {
        resource_type: "AWS::KMS::Key",
        set_paths: &[
            "configuration.encryptionAlgorithms",
            "configuration.signingAlgorithms",
            "configuration.macAlgorithms",
            "configuration.multiRegionConfiguration.replicaKeys",
        ],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::CloudTrail::Trail",
        set_paths: &["supplementaryConfiguration.Tags"],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::ElasticLoadBalancingV2::LoadBalancer",
        set_paths: &[
            "configuration.availabilityZones",
            "configuration.securityGroups",
            "configuration.availabilityZones.*.loadBalancerAddresses",
            "supplementaryConfiguration.LoadBalancerAttributes",
            "supplementaryConfiguration.Tags",
        ],
        volatile_paths: &["configuration.state.code"],
        global: false,
    },
    // Listeners: `DefaultActions` is ordered by `Order`.
    TypeSpec {
        resource_type: "AWS::ElasticLoadBalancingV2::Listener",
        set_paths: &[
            "configuration.Certificates",
            "configuration.AlpnPolicy",
            "configuration.DefaultActions.*.ForwardConfig.TargetGroups",
        ],
        volatile_paths: &[],
        global: false,
    },
    // Tables: sizes and item counts refresh every six hours (the indexes' own, inside
    // set-like arrays, cannot be kept aside); `keySchema` stays ordered (HASH first).
    TypeSpec {
        resource_type: "AWS::DynamoDB::Table",
        set_paths: &[
            "configuration.attributeDefinitions",
            "configuration.globalSecondaryIndexes",
            "configuration.localSecondaryIndexes",
            "configuration.replicas",
            "configuration.globalSecondaryIndexes.*.projection.nonKeyAttributes",
            "configuration.localSecondaryIndexes.*.projection.nonKeyAttributes",
            "supplementaryConfiguration.Tags",
        ],
        volatile_paths: &[
            "configuration.tableSizeBytes",
            "configuration.itemCount",
            "configuration.provisionedThroughput.numberOfDecreasesToday",
            "configuration.provisionedThroughput.lastIncreaseDateTime",
            "configuration.provisionedThroughput.lastDecreaseDateTime",
            "configuration.tableStatus",
        ],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::SNS::Topic",
        set_paths: &["supplementaryConfiguration.Tags"],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::SQS::Queue",
        set_paths: &[],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::ECR::Repository",
        set_paths: &["configuration.Tags"],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EKS::Cluster",
        set_paths: &[
            "configuration.ResourcesVpcConfig.SubnetIds",
            "configuration.ResourcesVpcConfig.SecurityGroupIds",
            "configuration.ResourcesVpcConfig.PublicAccessCidrs",
            "configuration.Logging.ClusterLogging.EnabledTypes",
            "configuration.EncryptionConfig.*.Resources",
            "configuration.Tags",
        ],
        volatile_paths: &["configuration.ClusterStatus"],
        global: false,
    },
    // Secrets: an automatic rotation moves the dates without a configuration change.
    TypeSpec {
        resource_type: "AWS::SecretsManager::Secret",
        set_paths: &["configuration.Tags", "configuration.ReplicationStatus"],
        volatile_paths: &[
            "configuration.LastRotatedDate",
            "configuration.LastChangedDate",
            "configuration.RotationOccurringAsScheduled",
        ],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::CloudWatch::Alarm",
        set_paths: &[
            "configuration.alarmActions",
            "configuration.okactions",
            "configuration.insufficientDataActions",
            "configuration.dimensions",
        ],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::NatGateway",
        set_paths: &["configuration.natGatewayAddresses"],
        volatile_paths: &["configuration.state"],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::EIP",
        set_paths: &[],
        volatile_paths: &[],
        global: false,
    },
    TypeSpec {
        resource_type: "AWS::EC2::VPCEndpoint",
        set_paths: &[
            "configuration.routeTableIds",
            "configuration.subnetIds",
            "configuration.groups",
            "configuration.networkInterfaceIds",
            "configuration.dnsEntries",
        ],
        volatile_paths: &["configuration.state", "configuration.lastError"],
        global: false,
    },
    // Flow logs: delivery health is not configuration.
    TypeSpec {
        resource_type: "AWS::EC2::FlowLog",
        set_paths: &[],
        volatile_paths: &[
            "configuration.deliverLogsStatus",
            "configuration.deliverLogsErrorMessage",
        ],
        global: false,
    },
];

/// A spec for types we were not told about: only the common sets, nothing volatile.
static FALLBACK: TypeSpec = TypeSpec {
    resource_type: "*",
    set_paths: &[],
    volatile_paths: &[],
    global: false,
};

/// Arrays that are sets whatever the type.
pub(crate) fn common_sets() -> &'static [&'static str] {
    COMMON_SETS
}

/// The type of the items the rules engine records: one per rule and evaluated resource.
pub const COMPLIANCE_TYPE: &str = "AWS::Config::ResourceCompliance";

/// Compliance items are derived, not polled, so they are not in [`KNOWN_TYPES`]. The times
/// of an evaluation tick on every re-evaluation: they are kept with each recorded change of
/// compliance but a new time alone records nothing.
static COMPLIANCE_SPEC: TypeSpec = TypeSpec {
    resource_type: COMPLIANCE_TYPE,
    set_paths: &[],
    volatile_paths: &[
        "configuration.orderingTimestamp",
        "configuration.resultRecordedTime",
        "configuration.configRuleInvokedTime",
        "supplementaryConfiguration.previousEvaluationResult",
    ],
    global: false,
};

/// The spec of `resource_type`, or a neutral one for types without declared paths.
pub fn spec_for(resource_type: &str) -> &'static TypeSpec {
    if resource_type == COMPLIANCE_TYPE {
        return &COMPLIANCE_SPEC;
    }
    KNOWN_TYPES
        .iter()
        .find(|s| s.resource_type == resource_type)
        .unwrap_or(&FALLBACK)
}

impl TypeSpec {
    /// True when the array at `path` (concrete indexes) is set-like for this type.
    pub fn is_set(&self, path: &[PathSeg<'_>]) -> bool {
        COMMON_SETS
            .iter()
            .chain(self.set_paths.iter())
            .any(|p| pattern_matches(p, path))
    }

    /// True when the value at `path` is volatile for this type.
    pub fn is_volatile(&self, path: &[PathSeg<'_>]) -> bool {
        self.volatile_paths.iter().any(|p| pattern_matches(p, path))
    }
}

/// One step of a path inside a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSeg<'a> {
    /// An object member.
    Key(&'a str),
    /// An array element.
    Index(usize),
}

fn pattern_matches(pattern: &str, path: &[PathSeg<'_>]) -> bool {
    let mut n = 0;
    for (i, part) in pattern.split('.').enumerate() {
        n = i + 1;
        match path.get(i) {
            None => return false,
            Some(PathSeg::Index(_)) if part == "*" => {}
            Some(PathSeg::Key(k)) if *k == part => {}
            Some(_) => return false,
        }
    }
    n == path.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_concrete_paths() {
        let sg = spec_for("AWS::EC2::SecurityGroup");
        let p = [
            PathSeg::Key("configuration"),
            PathSeg::Key("ipPermissions"),
            PathSeg::Index(3),
            PathSeg::Key("ipRanges"),
        ];
        assert!(sg.is_set(&p));
        assert!(!sg.is_set(&p[..3]));
        assert!(sg.is_set(&p[..2]));
        assert!(sg.is_set(&[PathSeg::Key("relationships")]));
        let role = spec_for("AWS::IAM::Role");
        assert!(role.is_volatile(&[PathSeg::Key("configuration"), PathSeg::Key("roleLastUsed")]));
        assert!(!role.is_volatile(&[PathSeg::Key("configuration")]));
        assert!(spec_for("AWS::IAM::Role").global);
        assert!(!spec_for("AWS::Nope::X").global);
    }
}
