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
];

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
        ROLE => ("AROA", true),
        USER => ("AIDA", true),
        GROUP => ("AGPA", true),
        POLICY => ("ANPA", true),
        _ => return None,
    })
}
