//! The resource types the simulator generates, under their AWS Config names, so that
//! callers can name them without spelling mistakes.

/// `AWS::EC2::VPC`.
pub const VPC: &str = "AWS::EC2::VPC";
/// `AWS::EC2::Subnet`.
pub const SUBNET: &str = "AWS::EC2::Subnet";
/// `AWS::EC2::SecurityGroup`.
pub const SECURITY_GROUP: &str = "AWS::EC2::SecurityGroup";
/// `AWS::EC2::NetworkAcl`.
pub const NETWORK_ACL: &str = "AWS::EC2::NetworkAcl";
/// `AWS::EC2::Instance`.
pub const INSTANCE: &str = "AWS::EC2::Instance";
/// `AWS::EC2::NetworkInterface`.
pub const NETWORK_INTERFACE: &str = "AWS::EC2::NetworkInterface";
/// `AWS::EC2::RouteTable`.
pub const ROUTE_TABLE: &str = "AWS::EC2::RouteTable";
/// `AWS::EC2::InternetGateway`.
pub const INTERNET_GATEWAY: &str = "AWS::EC2::InternetGateway";
/// `AWS::EC2::Volume`.
pub const VOLUME: &str = "AWS::EC2::Volume";
/// `AWS::IAM::Role`.
pub const ROLE: &str = "AWS::IAM::Role";
/// `AWS::IAM::User`.
pub const USER: &str = "AWS::IAM::User";
/// `AWS::IAM::Group`.
pub const GROUP: &str = "AWS::IAM::Group";
/// `AWS::IAM::Policy`.
pub const POLICY: &str = "AWS::IAM::Policy";
/// `AWS::S3::Bucket`.
pub const BUCKET: &str = "AWS::S3::Bucket";
/// `AWS::Lambda::Function`.
pub const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";
/// `AWS::RDS::DBInstance`.
pub const DB_INSTANCE: &str = "AWS::RDS::DBInstance";
/// `AWS::RDS::DBCluster`.
pub const DB_CLUSTER: &str = "AWS::RDS::DBCluster";
/// `AWS::RDS::DBSubnetGroup`.
pub const DB_SUBNET_GROUP: &str = "AWS::RDS::DBSubnetGroup";
/// `AWS::RDS::DBSnapshot`.
pub const DB_SNAPSHOT: &str = "AWS::RDS::DBSnapshot";
/// `AWS::KMS::Key`.
pub const KMS_KEY: &str = "AWS::KMS::Key";
/// `AWS::CloudTrail::Trail`.
pub const TRAIL: &str = "AWS::CloudTrail::Trail";
/// `AWS::ElasticLoadBalancingV2::LoadBalancer`.
pub const LOAD_BALANCER: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
/// `AWS::ElasticLoadBalancingV2::Listener`.
pub const LISTENER: &str = "AWS::ElasticLoadBalancingV2::Listener";
/// `AWS::DynamoDB::Table`.
pub const DYNAMODB_TABLE: &str = "AWS::DynamoDB::Table";
/// `AWS::SNS::Topic`.
pub const SNS_TOPIC: &str = "AWS::SNS::Topic";
/// `AWS::SQS::Queue`.
pub const SQS_QUEUE: &str = "AWS::SQS::Queue";
/// `AWS::ECR::Repository`.
pub const ECR_REPOSITORY: &str = "AWS::ECR::Repository";
/// `AWS::EKS::Cluster`.
pub const EKS_CLUSTER: &str = "AWS::EKS::Cluster";
/// `AWS::SecretsManager::Secret`.
pub const SECRET: &str = "AWS::SecretsManager::Secret";
/// `AWS::CloudWatch::Alarm`.
pub const ALARM: &str = "AWS::CloudWatch::Alarm";
/// `AWS::EC2::NatGateway`.
pub const NAT_GATEWAY: &str = "AWS::EC2::NatGateway";
/// `AWS::EC2::EIP`.
pub const EIP: &str = "AWS::EC2::EIP";
/// `AWS::EC2::VPCEndpoint`.
pub const VPC_ENDPOINT: &str = "AWS::EC2::VPCEndpoint";
/// `AWS::EC2::FlowLog`.
pub const FLOW_LOG: &str = "AWS::EC2::FlowLog";

/// Types recorded once per account and region.
pub const REGIONAL_TYPES: &[&str] = &[
    VPC,
    SUBNET,
    SECURITY_GROUP,
    NETWORK_ACL,
    INSTANCE,
    NETWORK_INTERFACE,
    ROUTE_TABLE,
    INTERNET_GATEWAY,
    VOLUME,
    BUCKET,
    LAMBDA_FUNCTION,
    DB_INSTANCE,
    DB_CLUSTER,
    DB_SUBNET_GROUP,
    DB_SNAPSHOT,
    KMS_KEY,
    TRAIL,
    LOAD_BALANCER,
    LISTENER,
    DYNAMODB_TABLE,
    SNS_TOPIC,
    SQS_QUEUE,
    ECR_REPOSITORY,
    EKS_CLUSTER,
    SECRET,
    ALARM,
    NAT_GATEWAY,
    EIP,
    VPC_ENDPOINT,
    FLOW_LOG,
];

/// The types generated before the service types were added (issue 15). They keep their
/// counts, bytes and churn whatever the service types do: the benchmarks compare against
/// numbers measured on them.
pub(crate) const ORIGINAL_TYPES: &[&str] = &[
    VPC,
    SUBNET,
    SECURITY_GROUP,
    NETWORK_ACL,
    INSTANCE,
    NETWORK_INTERFACE,
    ROUTE_TABLE,
    INTERNET_GATEWAY,
    VOLUME,
    BUCKET,
    ROLE,
    USER,
    GROUP,
    POLICY,
];

/// True for one of [`ORIGINAL_TYPES`].
pub(crate) fn is_original(resource_type: &str) -> bool {
    ORIGINAL_TYPES.contains(&resource_type)
}

/// Types recorded once per account, in the region `global` (IAM), as AWS Config does.
pub const GLOBAL_TYPES: &[&str] = &[ROLE, USER, GROUP, POLICY];

/// The region name of global types.
pub const GLOBAL_REGION: &str = "global";

/// Every type the simulator generates.
pub fn all() -> impl Iterator<Item = &'static str> {
    REGIONAL_TYPES.iter().chain(GLOBAL_TYPES).copied()
}

/// The id prefix of EC2 types (`sg` for `sg-0a1b...`) and of IAM unique ids (`AROA`), the
/// shape [`crate::ids`] draws ids from; `None` for types named otherwise (S3 buckets).
pub(crate) fn id_prefix(resource_type: &str) -> Option<(&'static str, bool)> {
    Some(match resource_type {
        VPC => ("vpc", false),
        SUBNET => ("subnet", false),
        SECURITY_GROUP => ("sg", false),
        NETWORK_ACL => ("acl", false),
        INSTANCE => ("i", false),
        NETWORK_INTERFACE => ("eni", false),
        ROUTE_TABLE => ("rtb", false),
        INTERNET_GATEWAY => ("igw", false),
        VOLUME => ("vol", false),
        NAT_GATEWAY => ("nat", false),
        EIP => ("eipalloc", false),
        VPC_ENDPOINT => ("vpce", false),
        FLOW_LOG => ("fl", false),
        ROLE => ("AROA", true),
        USER => ("AIDA", true),
        GROUP => ("AGPA", true),
        POLICY => ("ANPA", true),
        _ => return None,
    })
}
