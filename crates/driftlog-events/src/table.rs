//! The mapping table: one row per (write API, place where a resource is named in it).
//!
//! This file is data. Each row reads: the API (`eventSource`, `eventName`), what it does to
//! the resource (create / modify / delete), the AWS Config type it touches, the path in the
//! CloudTrail record where the resource is named, and what that value is (the AWS Config
//! `resourceId`, a name or an ARN to resolve). An API that touches several resources has
//! several rows; a row whose path is absent from a record yields nothing.
//!
//! Paths start at `requestParameters`, `responseElements` or `resources`, are dotted, and
//! `[]` iterates an array (`responseElements.instancesSet.items[].instanceId`). EC2 APIs added
//! after ~2016 are recorded with a wrapper named after the request or response
//! (`requestParameters.ModifyVolumeRequest.VolumeId`), in PascalCase inside it, and list
//! members as `{"tag": n, "content": "id"}`; the path reader accepts both.
//!
//! Sources for field names: AWS documentation samples, Cloud Custodian (`c7n/cwe.py`),
//! public rules reading CloudTrail (CloudTrail Lake samples, Panther, EventBridge rules).
//! Rows marked `// doubt:` have a field name not seen in a real record.
//!
//! Left out on purpose (they name nothing a row could use; the next poll records them):
//! `DetachNetworkInterface` (only an attachment id), `DisassociateRouteTable` and
//! `DisassociateAddress` by association id, and the ACL that loses a subnet in
//! `ReplaceNetworkAclAssociation` (only the new ACL is named).

use self::How::{Arn, Id, IdOrArn, Name, NameOrArn};
use self::Op::{Create as C, Delete as D, Modify as M};

/// What an API does to the resource a row finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// The resource is new.
    Create,
    /// The resource changed.
    Modify,
    /// The resource is gone (or going): its re-describe should find it absent.
    Delete,
}

/// How a row decides the resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Always this AWS Config type.
    Fixed(&'static str),
    /// From the EC2 id prefix (`sg-`, `vpc-`, ...; see [`ID_PREFIXES`]); other prefixes
    /// (AMIs, snapshots) are not recorded and yield nothing.
    ByIdPrefix,
    /// From the ARN's service and resource type (tagging APIs that take any ARN).
    ByArn,
}

/// What the value at a row's path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The AWS Config `resourceId` itself.
    Id,
    /// The resource's name (AWS Config `resourceName`): resolved from current state.
    Name,
    /// An ARN: becomes the id when the id can be read from it (Lambda, DynamoDB, KMS key,
    /// ELB, S3, EC2), otherwise stays an ARN to resolve (IAM).
    Arn,
    /// The id, or an ARN (APIs that take either: Lambda `functionName`, KMS `keyId`).
    IdOrArn,
    /// The name, or an ARN (Secrets Manager `secretId`, RDS source identifiers).
    NameOrArn,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// `eventSource`.
    pub source: &'static str,
    /// `eventName` (Lambda's without its API version suffix).
    pub event: &'static str,
    /// What the API does to the resource found.
    pub op: Op,
    /// Resource type.
    pub ty: Ty,
    /// Where the resource is named in the record.
    pub path: &'static str,
    /// What the value there is.
    pub how: How,
}

const fn row(
    source: &'static str,
    event: &'static str,
    op: Op,
    ty: Ty,
    path: &'static str,
    how: How,
) -> Row {
    Row {
        source,
        event,
        op,
        ty,
        path,
        how,
    }
}

// Event sources.
const EC2: &str = "ec2.amazonaws.com";
const IAM: &str = "iam.amazonaws.com";
const S3: &str = "s3.amazonaws.com";
const LAMBDA: &str = "lambda.amazonaws.com";
const RDS: &str = "rds.amazonaws.com";
const KMS: &str = "kms.amazonaws.com";
const TRAIL: &str = "cloudtrail.amazonaws.com";
const ELB: &str = "elasticloadbalancing.amazonaws.com";
const DDB: &str = "dynamodb.amazonaws.com";
const SNS: &str = "sns.amazonaws.com";
const SQS: &str = "sqs.amazonaws.com";
const ECR: &str = "ecr.amazonaws.com";
const EKS: &str = "eks.amazonaws.com";
const SECRETS: &str = "secretsmanager.amazonaws.com";
const CW: &str = "monitoring.amazonaws.com";

// AWS Config types (each is in driftlog_model::KNOWN_TYPES; a test checks it).
/// `AWS::EC2::SecurityGroup`.
pub const T_SG: &str = "AWS::EC2::SecurityGroup";
/// `AWS::EC2::VPC`.
pub const T_VPC: &str = "AWS::EC2::VPC";
/// `AWS::EC2::Subnet`.
pub const T_SUBNET: &str = "AWS::EC2::Subnet";
/// `AWS::EC2::Instance`.
pub const T_INSTANCE: &str = "AWS::EC2::Instance";
/// `AWS::EC2::Volume`.
pub const T_VOLUME: &str = "AWS::EC2::Volume";
/// `AWS::EC2::NetworkInterface`.
pub const T_ENI: &str = "AWS::EC2::NetworkInterface";
/// `AWS::EC2::NetworkAcl`.
pub const T_NACL: &str = "AWS::EC2::NetworkAcl";
/// `AWS::EC2::RouteTable`.
pub const T_RTB: &str = "AWS::EC2::RouteTable";
/// `AWS::EC2::InternetGateway`.
pub const T_IGW: &str = "AWS::EC2::InternetGateway";
/// `AWS::EC2::NatGateway`.
pub const T_NAT: &str = "AWS::EC2::NatGateway";
/// `AWS::EC2::EIP`.
pub const T_EIP: &str = "AWS::EC2::EIP";
/// `AWS::EC2::VPCEndpoint`.
pub const T_VPCE: &str = "AWS::EC2::VPCEndpoint";
/// `AWS::EC2::FlowLog`.
pub const T_FLOWLOG: &str = "AWS::EC2::FlowLog";
/// `AWS::IAM::User`.
pub const T_USER: &str = "AWS::IAM::User";
/// `AWS::IAM::Group`.
pub const T_GROUP: &str = "AWS::IAM::Group";
/// `AWS::IAM::Role`.
pub const T_ROLE: &str = "AWS::IAM::Role";
/// `AWS::IAM::Policy`.
pub const T_POLICY: &str = "AWS::IAM::Policy";
/// `AWS::S3::Bucket`.
pub const T_BUCKET: &str = "AWS::S3::Bucket";
/// `AWS::Lambda::Function`.
pub const T_FUNCTION: &str = "AWS::Lambda::Function";
/// `AWS::RDS::DBInstance`.
pub const T_DBINSTANCE: &str = "AWS::RDS::DBInstance";
/// `AWS::RDS::DBCluster`.
pub const T_DBCLUSTER: &str = "AWS::RDS::DBCluster";
/// `AWS::RDS::DBSubnetGroup`.
pub const T_DBSUBNETGROUP: &str = "AWS::RDS::DBSubnetGroup";
/// `AWS::RDS::DBSnapshot`.
pub const T_DBSNAPSHOT: &str = "AWS::RDS::DBSnapshot";
/// `AWS::KMS::Key`.
pub const T_KEY: &str = "AWS::KMS::Key";
/// `AWS::CloudTrail::Trail`.
pub const T_TRAIL: &str = "AWS::CloudTrail::Trail";
/// `AWS::ElasticLoadBalancingV2::LoadBalancer`.
pub const T_LB: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
/// `AWS::ElasticLoadBalancingV2::Listener`.
pub const T_LISTENER: &str = "AWS::ElasticLoadBalancingV2::Listener";
/// `AWS::DynamoDB::Table`.
pub const T_TABLE: &str = "AWS::DynamoDB::Table";
/// `AWS::SNS::Topic`.
pub const T_TOPIC: &str = "AWS::SNS::Topic";
/// `AWS::SQS::Queue`.
pub const T_QUEUE: &str = "AWS::SQS::Queue";
/// `AWS::ECR::Repository`.
pub const T_REPO: &str = "AWS::ECR::Repository";
/// `AWS::EKS::Cluster`.
pub const T_EKS: &str = "AWS::EKS::Cluster";
/// `AWS::SecretsManager::Secret`.
pub const T_SECRET: &str = "AWS::SecretsManager::Secret";
/// `AWS::CloudWatch::Alarm`.
pub const T_ALARM: &str = "AWS::CloudWatch::Alarm";

/// EC2 id prefixes of the recorded types: how `CreateTags` and EC2 ARNs are typed.
pub static ID_PREFIXES: &[(&str, &str)] = &[
    ("sg-", T_SG),
    ("vpc-", T_VPC),
    ("subnet-", T_SUBNET),
    ("i-", T_INSTANCE),
    ("vol-", T_VOLUME),
    ("eni-", T_ENI),
    ("acl-", T_NACL),
    ("rtb-", T_RTB),
    ("igw-", T_IGW),
    ("nat-", T_NAT),
    ("eipalloc-", T_EIP),
    ("vpce-", T_VPCE),
    ("fl-", T_FLOWLOG),
];

const SG: Ty = Ty::Fixed(T_SG);
const VPC: Ty = Ty::Fixed(T_VPC);
const SUBNET: Ty = Ty::Fixed(T_SUBNET);
const INSTANCE: Ty = Ty::Fixed(T_INSTANCE);
const VOLUME: Ty = Ty::Fixed(T_VOLUME);
const ENI: Ty = Ty::Fixed(T_ENI);
const NACL: Ty = Ty::Fixed(T_NACL);
const RTB: Ty = Ty::Fixed(T_RTB);
const IGW: Ty = Ty::Fixed(T_IGW);
const NAT: Ty = Ty::Fixed(T_NAT);
const EIP: Ty = Ty::Fixed(T_EIP);
const VPCE: Ty = Ty::Fixed(T_VPCE);
const FLOWLOG: Ty = Ty::Fixed(T_FLOWLOG);
const USER: Ty = Ty::Fixed(T_USER);
const GROUP: Ty = Ty::Fixed(T_GROUP);
const ROLE: Ty = Ty::Fixed(T_ROLE);
const POLICY: Ty = Ty::Fixed(T_POLICY);
const BUCKET: Ty = Ty::Fixed(T_BUCKET);
const FUNCTION: Ty = Ty::Fixed(T_FUNCTION);
const DBINSTANCE: Ty = Ty::Fixed(T_DBINSTANCE);
const DBCLUSTER: Ty = Ty::Fixed(T_DBCLUSTER);
const DBSUBNETGROUP: Ty = Ty::Fixed(T_DBSUBNETGROUP);
const DBSNAPSHOT: Ty = Ty::Fixed(T_DBSNAPSHOT);
const KEY: Ty = Ty::Fixed(T_KEY);
const TRAIL_T: Ty = Ty::Fixed(T_TRAIL);
const LB: Ty = Ty::Fixed(T_LB);
const LISTENER: Ty = Ty::Fixed(T_LISTENER);
const TABLE: Ty = Ty::Fixed(T_TABLE);
const TOPIC: Ty = Ty::Fixed(T_TOPIC);
const QUEUE: Ty = Ty::Fixed(T_QUEUE);
const REPO: Ty = Ty::Fixed(T_REPO);
const CLUSTER: Ty = Ty::Fixed(T_EKS);
const SECRET: Ty = Ty::Fixed(T_SECRET);
const ALARM: Ty = Ty::Fixed(T_ALARM);
const BY_PREFIX: Ty = Ty::ByIdPrefix;
const BY_ARN: Ty = Ty::ByArn;

/// The table. Rows of one API are adjacent; the order is otherwise free.
#[rustfmt::skip]
pub static ROWS: &[Row] = &[
    // ---- EC2: security groups ---------------------------------------------------------------------------------
    row(EC2, "CreateSecurityGroup",                         C, SG,       "responseElements.groupId",                                   Id),
    row(EC2, "DeleteSecurityGroup",                         D, SG,       "requestParameters.groupId",                                  Id),
    row(EC2, "DeleteSecurityGroup",                         D, SG,       "requestParameters.groupName",                                Name),
    row(EC2, "AuthorizeSecurityGroupIngress",               M, SG,       "requestParameters.groupId",                                  Id),
    row(EC2, "AuthorizeSecurityGroupIngress",               M, SG,       "requestParameters.groupName",                                Name),
    row(EC2, "AuthorizeSecurityGroupEgress",                M, SG,       "requestParameters.groupId",                                  Id),
    row(EC2, "RevokeSecurityGroupIngress",                  M, SG,       "requestParameters.groupId",                                  Id),
    row(EC2, "RevokeSecurityGroupIngress",                  M, SG,       "requestParameters.groupName",                                Name),
    row(EC2, "RevokeSecurityGroupEgress",                   M, SG,       "requestParameters.groupId",                                  Id),
    row(EC2, "ModifySecurityGroupRules",                    M, SG,       "requestParameters.ModifySecurityGroupRulesRequest.GroupId",  Id),
    row(EC2, "UpdateSecurityGroupRuleDescriptionsIngress",  M, SG,       "requestParameters.groupId",                                  Id),
    row(EC2, "UpdateSecurityGroupRuleDescriptionsEgress",   M, SG,       "requestParameters.groupId",                                  Id),
    // ---- EC2: VPCs and subnets --------------------------------------------------------------------------------
    row(EC2, "CreateVpc",                                   C, VPC,      "responseElements.vpc.vpcId",                                 Id),
    row(EC2, "DeleteVpc",                                   D, VPC,      "requestParameters.vpcId",                                    Id),
    row(EC2, "ModifyVpcAttribute",                          M, VPC,      "requestParameters.vpcId",                                    Id),
    row(EC2, "AssociateVpcCidrBlock",                       M, VPC,      "requestParameters.vpcId",                                    Id),
    // doubt: the request names only the association; the response's vpcId is inferred from the API's output shape.
    row(EC2, "DisassociateVpcCidrBlock",                    M, VPC,      "responseElements.vpcId",                                     Id),
    row(EC2, "CreateSubnet",                                C, SUBNET,   "responseElements.subnet.subnetId",                           Id),
    row(EC2, "DeleteSubnet",                                D, SUBNET,   "requestParameters.subnetId",                                 Id),
    row(EC2, "ModifySubnetAttribute",                       M, SUBNET,   "requestParameters.subnetId",                                 Id),
    row(EC2, "AssociateSubnetCidrBlock",                    M, SUBNET,   "requestParameters.subnetId",                                 Id),
    // doubt: as DisassociateVpcCidrBlock.
    row(EC2, "DisassociateSubnetCidrBlock",                 M, SUBNET,   "responseElements.subnetId",                                  Id),
    // ---- EC2: instances (their ENIs and volumes are left to the recorder's related re-check) ------------------
    row(EC2, "RunInstances",                                C, INSTANCE, "responseElements.instancesSet.items[].instanceId",           Id),
    row(EC2, "TerminateInstances",                          D, INSTANCE, "requestParameters.instancesSet.items[].instanceId",          Id),
    row(EC2, "StartInstances",                              M, INSTANCE, "requestParameters.instancesSet.items[].instanceId",          Id),
    row(EC2, "StopInstances",                               M, INSTANCE, "requestParameters.instancesSet.items[].instanceId",          Id),
    row(EC2, "MonitorInstances",                            M, INSTANCE, "requestParameters.instancesSet.items[].instanceId",          Id),
    row(EC2, "UnmonitorInstances",                          M, INSTANCE, "requestParameters.instancesSet.items[].instanceId",          Id),
    row(EC2, "ModifyInstanceAttribute",                     M, INSTANCE, "requestParameters.instanceId",                               Id),
    row(EC2, "ModifyInstanceMetadataOptions",               M, INSTANCE, "requestParameters.ModifyInstanceMetadataOptionsRequest.InstanceId", Id),
    row(EC2, "AssociateIamInstanceProfile",                 M, INSTANCE, "requestParameters.AssociateIamInstanceProfileRequest.InstanceId", Id),
    // doubt: response wrapper and member names follow the AssociateIamInstanceProfile pattern.
    row(EC2, "ReplaceIamInstanceProfileAssociation",        M, INSTANCE, "responseElements.ReplaceIamInstanceProfileAssociationResponse.iamInstanceProfileAssociation.instanceId", Id),
    row(EC2, "DisassociateIamInstanceProfile",              M, INSTANCE, "responseElements.DisassociateIamInstanceProfileResponse.iamInstanceProfileAssociation.instanceId", Id),
    // ---- EC2: volumes -----------------------------------------------------------------------------------------
    row(EC2, "CreateVolume",                                C, VOLUME,   "responseElements.volumeId",                                  Id),
    row(EC2, "DeleteVolume",                                D, VOLUME,   "requestParameters.volumeId",                                 Id),
    row(EC2, "AttachVolume",                                M, VOLUME,   "requestParameters.volumeId",                                 Id),
    row(EC2, "AttachVolume",                                M, INSTANCE, "requestParameters.instanceId",                               Id),
    row(EC2, "DetachVolume",                                M, VOLUME,   "requestParameters.volumeId",                                 Id),
    row(EC2, "DetachVolume",                                M, INSTANCE, "responseElements.instanceId",                                Id),
    row(EC2, "ModifyVolume",                                M, VOLUME,   "requestParameters.ModifyVolumeRequest.VolumeId",             Id),
    row(EC2, "ModifyVolumeAttribute",                       M, VOLUME,   "requestParameters.volumeId",                                 Id),
    // ---- EC2: network interfaces ------------------------------------------------------------------------------
    row(EC2, "CreateNetworkInterface",                      C, ENI,      "responseElements.networkInterface.networkInterfaceId",       Id),
    row(EC2, "DeleteNetworkInterface",                      D, ENI,      "requestParameters.networkInterfaceId",                       Id),
    row(EC2, "ModifyNetworkInterfaceAttribute",             M, ENI,      "requestParameters.networkInterfaceId",                       Id),
    row(EC2, "AttachNetworkInterface",                      M, ENI,      "requestParameters.networkInterfaceId",                       Id),
    row(EC2, "AttachNetworkInterface",                      M, INSTANCE, "requestParameters.instanceId",                               Id),
    row(EC2, "AssignPrivateIpAddresses",                    M, ENI,      "requestParameters.networkInterfaceId",                       Id),
    row(EC2, "UnassignPrivateIpAddresses",                  M, ENI,      "requestParameters.networkInterfaceId",                       Id),
    row(EC2, "AssignIpv6Addresses",                         M, ENI,      "requestParameters.networkInterfaceId",                       Id),
    row(EC2, "UnassignIpv6Addresses",                       M, ENI,      "requestParameters.networkInterfaceId",                       Id),
    // ---- EC2: network ACLs ------------------------------------------------------------------------------------
    row(EC2, "CreateNetworkAcl",                            C, NACL,     "responseElements.networkAcl.networkAclId",                   Id),
    row(EC2, "DeleteNetworkAcl",                            D, NACL,     "requestParameters.networkAclId",                             Id),
    row(EC2, "CreateNetworkAclEntry",                       M, NACL,     "requestParameters.networkAclId",                             Id),
    row(EC2, "ReplaceNetworkAclEntry",                      M, NACL,     "requestParameters.networkAclId",                             Id),
    row(EC2, "DeleteNetworkAclEntry",                       M, NACL,     "requestParameters.networkAclId",                             Id),
    row(EC2, "ReplaceNetworkAclAssociation",                M, NACL,     "requestParameters.networkAclId",                             Id),
    // ---- EC2: route tables ------------------------------------------------------------------------------------
    row(EC2, "CreateRouteTable",                            C, RTB,      "responseElements.routeTable.routeTableId",                   Id),
    row(EC2, "DeleteRouteTable",                            D, RTB,      "requestParameters.routeTableId",                             Id),
    row(EC2, "CreateRoute",                                 M, RTB,      "requestParameters.routeTableId",                             Id),
    row(EC2, "ReplaceRoute",                                M, RTB,      "requestParameters.routeTableId",                             Id),
    row(EC2, "DeleteRoute",                                 M, RTB,      "requestParameters.routeTableId",                             Id),
    row(EC2, "AssociateRouteTable",                         M, RTB,      "requestParameters.routeTableId",                             Id),
    row(EC2, "ReplaceRouteTableAssociation",                M, RTB,      "requestParameters.routeTableId",                             Id),
    row(EC2, "EnableVgwRoutePropagation",                   M, RTB,      "requestParameters.routeTableId",                             Id),
    row(EC2, "DisableVgwRoutePropagation",                  M, RTB,      "requestParameters.routeTableId",                             Id),
    // ---- EC2: internet gateways -------------------------------------------------------------------------------
    row(EC2, "CreateInternetGateway",                       C, IGW,      "responseElements.internetGateway.internetGatewayId",         Id),
    row(EC2, "DeleteInternetGateway",                       D, IGW,      "requestParameters.internetGatewayId",                        Id),
    row(EC2, "AttachInternetGateway",                       M, IGW,      "requestParameters.internetGatewayId",                        Id),
    row(EC2, "AttachInternetGateway",                       M, VPC,      "requestParameters.vpcId",                                    Id),
    row(EC2, "DetachInternetGateway",                       M, IGW,      "requestParameters.internetGatewayId",                        Id),
    row(EC2, "DetachInternetGateway",                       M, VPC,      "requestParameters.vpcId",                                    Id),
    // ---- EC2: NAT gateways (wrapped request/response forms) --------------------------------------------------
    row(EC2, "CreateNatGateway",                            C, NAT,      "responseElements.CreateNatGatewayResponse.natGateway.natGatewayId", Id),
    row(EC2, "DeleteNatGateway",                            D, NAT,      "requestParameters.DeleteNatGatewayRequest.NatGatewayId",     Id),
    // doubt: wrapper names follow the CreateNatGateway/ModifyVolume pattern.
    row(EC2, "AssociateNatGatewayAddress",                  M, NAT,      "requestParameters.AssociateNatGatewayAddressRequest.NatGatewayId", Id),
    row(EC2, "DisassociateNatGatewayAddress",               M, NAT,      "requestParameters.DisassociateNatGatewayAddressRequest.NatGatewayId", Id),
    // ---- EC2: Elastic IPs (AWS Config's id is the allocation id, its name the public IP) ----------------------
    row(EC2, "AllocateAddress",                             C, EIP,      "responseElements.allocationId",                              Id),
    row(EC2, "ReleaseAddress",                              D, EIP,      "requestParameters.allocationId",                             Id),
    row(EC2, "ReleaseAddress",                              D, EIP,      "requestParameters.publicIp",                                 Name),
    row(EC2, "AssociateAddress",                            M, EIP,      "requestParameters.allocationId",                             Id),
    row(EC2, "AssociateAddress",                            M, EIP,      "requestParameters.publicIp",                                 Name),
    row(EC2, "AssociateAddress",                            M, INSTANCE, "requestParameters.instanceId",                               Id),
    row(EC2, "AssociateAddress",                            M, ENI,      "requestParameters.networkInterfaceId",                       Id),
    row(EC2, "DisassociateAddress",                         M, EIP,      "requestParameters.publicIp",                                 Name),
    // ---- EC2: VPC endpoints and flow logs (wrapped forms; doubt: member names beyond the wrappers) ------------
    row(EC2, "CreateVpcEndpoint",                           C, VPCE,     "responseElements.CreateVpcEndpointResponse.vpcEndpoint.vpcEndpointId", Id),
    row(EC2, "ModifyVpcEndpoint",                           M, VPCE,     "requestParameters.ModifyVpcEndpointRequest.VpcEndpointId",   Id),
    row(EC2, "DeleteVpcEndpoints",                          D, VPCE,     "requestParameters.DeleteVpcEndpointsRequest.VpcEndpointId",  Id),
    row(EC2, "CreateFlowLogs",                              C, FLOWLOG,  "responseElements.CreateFlowLogsResponse.flowLogIdSet.item",  Id),
    row(EC2, "DeleteFlowLogs",                              D, FLOWLOG,  "requestParameters.DeleteFlowLogsRequest.FlowLogId",          Id),
    // ---- EC2: tags, typed by id prefix ------------------------------------------------------------------------
    row(EC2, "CreateTags",                                  M, BY_PREFIX, "requestParameters.resourcesSet.items[].resourceId",         Id),
    row(EC2, "DeleteTags",                                  M, BY_PREFIX, "requestParameters.resourcesSet.items[].resourceId",         Id),

    // ---- IAM users (id = AIDA…, name = user name) -------------------------------------------------------------
    row(IAM, "CreateUser",                                  C, USER,     "responseElements.user.userId",                               Id),
    row(IAM, "DeleteUser",                                  D, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "UpdateUser",                                  M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "PutUserPolicy",                               M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "DeleteUserPolicy",                            M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "AttachUserPolicy",                            M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "AttachUserPolicy",                            M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "DetachUserPolicy",                            M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "DetachUserPolicy",                            M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "AddUserToGroup",                              M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "AddUserToGroup",                              M, GROUP,    "requestParameters.groupName",                                Name),
    row(IAM, "RemoveUserFromGroup",                         M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "RemoveUserFromGroup",                         M, GROUP,    "requestParameters.groupName",                                Name),
    row(IAM, "TagUser",                                     M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "UntagUser",                                   M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "PutUserPermissionsBoundary",                  M, USER,     "requestParameters.userName",                                 Name),
    row(IAM, "DeleteUserPermissionsBoundary",               M, USER,     "requestParameters.userName",                                 Name),
    // ---- IAM groups (id = AGPA…) ------------------------------------------------------------------------------
    row(IAM, "CreateGroup",                                 C, GROUP,    "responseElements.group.groupId",                             Id),
    row(IAM, "DeleteGroup",                                 D, GROUP,    "requestParameters.groupName",                                Name),
    row(IAM, "UpdateGroup",                                 M, GROUP,    "requestParameters.groupName",                                Name),
    row(IAM, "PutGroupPolicy",                              M, GROUP,    "requestParameters.groupName",                                Name),
    row(IAM, "DeleteGroupPolicy",                           M, GROUP,    "requestParameters.groupName",                                Name),
    row(IAM, "AttachGroupPolicy",                           M, GROUP,    "requestParameters.groupName",                                Name),
    row(IAM, "AttachGroupPolicy",                           M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "DetachGroupPolicy",                           M, GROUP,    "requestParameters.groupName",                                Name),
    row(IAM, "DetachGroupPolicy",                           M, POLICY,   "requestParameters.policyArn",                                Arn),
    // ---- IAM roles (id = AROA…) -------------------------------------------------------------------------------
    row(IAM, "CreateRole",                                  C, ROLE,     "responseElements.role.roleId",                               Id),
    row(IAM, "DeleteRole",                                  D, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "UpdateRole",                                  M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "UpdateRoleDescription",                       M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "UpdateAssumeRolePolicy",                      M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "PutRolePolicy",                               M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "DeleteRolePolicy",                            M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "AttachRolePolicy",                            M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "AttachRolePolicy",                            M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "DetachRolePolicy",                            M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "DetachRolePolicy",                            M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "TagRole",                                     M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "UntagRole",                                   M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "PutRolePermissionsBoundary",                  M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "DeleteRolePermissionsBoundary",               M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "AddRoleToInstanceProfile",                    M, ROLE,     "requestParameters.roleName",                                 Name),
    row(IAM, "RemoveRoleFromInstanceProfile",               M, ROLE,     "requestParameters.roleName",                                 Name),
    // ---- IAM managed policies (id = ANPA…; AWS-managed policies are not recorded and yield nothing) ------------
    row(IAM, "CreatePolicy",                                C, POLICY,   "responseElements.policy.policyId",                           Id),
    row(IAM, "DeletePolicy",                                D, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "CreatePolicyVersion",                         M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "DeletePolicyVersion",                         M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "SetDefaultPolicyVersion",                     M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "TagPolicy",                                   M, POLICY,   "requestParameters.policyArn",                                Arn),
    row(IAM, "UntagPolicy",                                 M, POLICY,   "requestParameters.policyArn",                                Arn),

    // ---- S3 buckets (id = name) -------------------------------------------------------------------------------
    row(S3, "CreateBucket",                                 C, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucket",                                 D, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketPolicy",                              M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketPolicy",                           M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketAcl",                                 M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketVersioning",                          M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketEncryption",                          M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketEncryption",                       M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketPublicAccessBlock",                   M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketPublicAccessBlock",                M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketLogging",                             M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketTagging",                             M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketTagging",                          M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketLifecycle",                           M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketLifecycle",                        M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketReplication",                         M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketReplication",                      M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketNotification",                        M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketWebsite",                             M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketWebsite",                          M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketCors",                                M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketCors",                             M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketRequestPayment",                      M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "PutBucketOwnershipControls",                   M, BUCKET,   "requestParameters.bucketName",                               Id),
    row(S3, "DeleteBucketOwnershipControls",                M, BUCKET,   "requestParameters.bucketName",                               Id),

    // ---- Lambda (id = function name; names carry an API version suffix, stripped before lookup) ---------------
    row(LAMBDA, "CreateFunction",                           C, FUNCTION, "requestParameters.functionName",                             IdOrArn),
    row(LAMBDA, "DeleteFunction",                           D, FUNCTION, "requestParameters.functionName",                             IdOrArn),
    row(LAMBDA, "UpdateFunctionCode",                       M, FUNCTION, "requestParameters.functionName",                             IdOrArn),
    row(LAMBDA, "UpdateFunctionConfiguration",              M, FUNCTION, "requestParameters.functionName",                             IdOrArn),
    row(LAMBDA, "AddPermission",                            M, FUNCTION, "requestParameters.functionName",                             IdOrArn),
    row(LAMBDA, "RemovePermission",                         M, FUNCTION, "requestParameters.functionName",                             IdOrArn),
    row(LAMBDA, "PutFunctionConcurrency",                   M, FUNCTION, "requestParameters.functionName",                             IdOrArn),
    row(LAMBDA, "DeleteFunctionConcurrency",                M, FUNCTION, "requestParameters.functionName",                             IdOrArn),
    row(LAMBDA, "TagResource",                              M, FUNCTION, "requestParameters.resource",                                 Arn),
    row(LAMBDA, "UntagResource",                            M, FUNCTION, "requestParameters.resource",                                 Arn),

    // ---- RDS DB instances (id = DbiResourceId db-…, name = DBInstanceIdentifier) ------------------------------
    row(RDS, "CreateDBInstance",                            C, DBINSTANCE, "responseElements.dbiResourceId",                           Id),
    row(RDS, "CreateDBInstance",                            M, DBCLUSTER,  "requestParameters.dBClusterIdentifier",                    Name),
    row(RDS, "CreateDBInstanceReadReplica",                 C, DBINSTANCE, "responseElements.dbiResourceId",                           Id),
    row(RDS, "CreateDBInstanceReadReplica",                 M, DBINSTANCE, "requestParameters.sourceDBInstanceIdentifier",             NameOrArn),
    row(RDS, "RestoreDBInstanceFromDBSnapshot",             C, DBINSTANCE, "responseElements.dbiResourceId",                           Id),
    row(RDS, "RestoreDBInstanceToPointInTime",              C, DBINSTANCE, "responseElements.dbiResourceId",                           Id),
    row(RDS, "DeleteDBInstance",                            D, DBINSTANCE, "requestParameters.dBInstanceIdentifier",                   Name),
    row(RDS, "ModifyDBInstance",                            M, DBINSTANCE, "requestParameters.dBInstanceIdentifier",                   Name),
    row(RDS, "StartDBInstance",                             M, DBINSTANCE, "requestParameters.dBInstanceIdentifier",                   Name),
    row(RDS, "StopDBInstance",                              M, DBINSTANCE, "requestParameters.dBInstanceIdentifier",                   Name),
    row(RDS, "PromoteReadReplica",                          M, DBINSTANCE, "requestParameters.dBInstanceIdentifier",                   Name),
    // ---- RDS DB clusters (id = DbClusterResourceId cluster-…, name = DBClusterIdentifier) ---------------------
    row(RDS, "CreateDBCluster",                             C, DBCLUSTER,  "responseElements.dbClusterResourceId",                     Id),
    row(RDS, "RestoreDBClusterFromSnapshot",                C, DBCLUSTER,  "responseElements.dbClusterResourceId",                     Id),
    row(RDS, "RestoreDBClusterToPointInTime",               C, DBCLUSTER,  "responseElements.dbClusterResourceId",                     Id),
    row(RDS, "DeleteDBCluster",                             D, DBCLUSTER,  "requestParameters.dBClusterIdentifier",                    Name),
    row(RDS, "ModifyDBCluster",                             M, DBCLUSTER,  "requestParameters.dBClusterIdentifier",                    Name),
    row(RDS, "StartDBCluster",                              M, DBCLUSTER,  "requestParameters.dBClusterIdentifier",                    Name),
    row(RDS, "StopDBCluster",                               M, DBCLUSTER,  "requestParameters.dBClusterIdentifier",                    Name),
    // ---- RDS subnet groups and snapshots (id = name / identifier) ---------------------------------------------
    row(RDS, "CreateDBSubnetGroup",                         C, DBSUBNETGROUP, "requestParameters.dBSubnetGroupName",                   Id),
    row(RDS, "ModifyDBSubnetGroup",                         M, DBSUBNETGROUP, "requestParameters.dBSubnetGroupName",                   Id),
    row(RDS, "DeleteDBSubnetGroup",                         D, DBSUBNETGROUP, "requestParameters.dBSubnetGroupName",                   Id),
    row(RDS, "CreateDBSnapshot",                            C, DBSNAPSHOT, "requestParameters.dBSnapshotIdentifier",                   Id),
    row(RDS, "CopyDBSnapshot",                              C, DBSNAPSHOT, "requestParameters.targetDBSnapshotIdentifier",             Id),
    row(RDS, "DeleteDBSnapshot",                            D, DBSNAPSHOT, "requestParameters.dBSnapshotIdentifier",                   Id),
    row(RDS, "ModifyDBSnapshot",                            M, DBSNAPSHOT, "requestParameters.dBSnapshotIdentifier",                   Id),
    row(RDS, "ModifyDBSnapshotAttribute",                   M, DBSNAPSHOT, "requestParameters.dBSnapshotIdentifier",                   Id),
    // ---- RDS tags: any RDS ARN (db:, cluster:, subgrp:, snapshot:) -------------------------------------------
    row(RDS, "AddTagsToResource",                           M, BY_ARN,   "requestParameters.resourceName",                             Arn),
    row(RDS, "RemoveTagsFromResource",                      M, BY_ARN,   "requestParameters.resourceName",                             Arn),

    // ---- KMS keys (id = key id; keyId may also be a key ARN, an alias name or an alias ARN) -------------------
    row(KMS, "CreateKey",                                   C, KEY,      "responseElements.keyMetadata.keyId",                         Id),
    row(KMS, "ScheduleKeyDeletion",                         D, KEY,      "requestParameters.keyId",                                    IdOrArn),
    // doubt: the deletion at the end of the waiting period is an AwsServiceEvent naming the key only in `resources`.
    row(KMS, "DeleteKey",                                   D, KEY,      "resources[].ARN",                                            Arn),
    row(KMS, "CancelKeyDeletion",                           M, KEY,      "requestParameters.keyId",                                    IdOrArn),
    row(KMS, "EnableKey",                                   M, KEY,      "requestParameters.keyId",                                    IdOrArn),
    row(KMS, "DisableKey",                                  M, KEY,      "requestParameters.keyId",                                    IdOrArn),
    row(KMS, "EnableKeyRotation",                           M, KEY,      "requestParameters.keyId",                                    IdOrArn),
    row(KMS, "DisableKeyRotation",                          M, KEY,      "requestParameters.keyId",                                    IdOrArn),
    row(KMS, "PutKeyPolicy",                                M, KEY,      "requestParameters.keyId",                                    IdOrArn),
    row(KMS, "UpdateKeyDescription",                        M, KEY,      "requestParameters.keyId",                                    IdOrArn),
    row(KMS, "TagResource",                                 M, KEY,      "requestParameters.keyId",                                    IdOrArn),
    row(KMS, "UntagResource",                               M, KEY,      "requestParameters.keyId",                                    IdOrArn),

    // ---- CloudTrail trails (id = trail name; `name` may be the trail ARN) -------------------------------------
    row(TRAIL, "CreateTrail",                               C, TRAIL_T,  "requestParameters.name",                                     IdOrArn),
    row(TRAIL, "DeleteTrail",                               D, TRAIL_T,  "requestParameters.name",                                     IdOrArn),
    row(TRAIL, "UpdateTrail",                               M, TRAIL_T,  "requestParameters.name",                                     IdOrArn),
    row(TRAIL, "StartLogging",                              M, TRAIL_T,  "requestParameters.name",                                     IdOrArn),
    row(TRAIL, "StopLogging",                               M, TRAIL_T,  "requestParameters.name",                                     IdOrArn),
    row(TRAIL, "PutEventSelectors",                         M, TRAIL_T,  "requestParameters.trailName",                                IdOrArn),
    row(TRAIL, "PutInsightSelectors",                       M, TRAIL_T,  "requestParameters.trailName",                                IdOrArn),
    row(TRAIL, "AddTags",                                   M, TRAIL_T,  "requestParameters.resourceId",                               Arn),
    row(TRAIL, "RemoveTags",                                M, TRAIL_T,  "requestParameters.resourceId",                               Arn),

    // ---- ELBv2 load balancers and listeners (id = ARN). Classic ELB calls share the source and names but carry
    //      loadBalancerName, not an ARN: they yield nothing and are counted as unmapped. --------------------------
    row(ELB, "CreateLoadBalancer",                          C, LB,       "responseElements.loadBalancers[].loadBalancerArn",           Id),
    row(ELB, "DeleteLoadBalancer",                          D, LB,       "requestParameters.loadBalancerArn",                          Id),
    row(ELB, "ModifyLoadBalancerAttributes",                M, LB,       "requestParameters.loadBalancerArn",                          Id),
    row(ELB, "SetSecurityGroups",                           M, LB,       "requestParameters.loadBalancerArn",                          Id),
    row(ELB, "SetSubnets",                                  M, LB,       "requestParameters.loadBalancerArn",                          Id),
    row(ELB, "SetIpAddressType",                            M, LB,       "requestParameters.loadBalancerArn",                          Id),
    row(ELB, "CreateListener",                              C, LISTENER, "responseElements.listeners[].listenerArn",                   Id),
    row(ELB, "DeleteListener",                              D, LISTENER, "requestParameters.listenerArn",                              Id),
    row(ELB, "ModifyListener",                              M, LISTENER, "requestParameters.listenerArn",                              Id),
    row(ELB, "AddListenerCertificates",                     M, LISTENER, "requestParameters.listenerArn",                              Id),
    row(ELB, "RemoveListenerCertificates",                  M, LISTENER, "requestParameters.listenerArn",                              Id),
    row(ELB, "AddTags",                                     M, BY_ARN,   "requestParameters.resourceArns[]",                           Arn),
    row(ELB, "RemoveTags",                                  M, BY_ARN,   "requestParameters.resourceArns[]",                           Arn),

    // ---- DynamoDB tables (id = table name; newer APIs accept the table ARN too) -------------------------------
    row(DDB, "CreateTable",                                 C, TABLE,    "requestParameters.tableName",                                IdOrArn),
    row(DDB, "DeleteTable",                                 D, TABLE,    "requestParameters.tableName",                                IdOrArn),
    row(DDB, "UpdateTable",                                 M, TABLE,    "requestParameters.tableName",                                IdOrArn),
    row(DDB, "UpdateTimeToLive",                            M, TABLE,    "requestParameters.tableName",                                IdOrArn),
    row(DDB, "UpdateContinuousBackups",                     M, TABLE,    "requestParameters.tableName",                                IdOrArn),
    row(DDB, "TagResource",                                 M, TABLE,    "requestParameters.resourceArn",                              Arn),
    row(DDB, "UntagResource",                               M, TABLE,    "requestParameters.resourceArn",                              Arn),

    // ---- SNS topics (id = topic ARN) --------------------------------------------------------------------------
    row(SNS, "CreateTopic",                                 C, TOPIC,    "responseElements.topicArn",                                  Id),
    row(SNS, "DeleteTopic",                                 D, TOPIC,    "requestParameters.topicArn",                                 Id),
    row(SNS, "SetTopicAttributes",                          M, TOPIC,    "requestParameters.topicArn",                                 Id),
    row(SNS, "AddPermission",                               M, TOPIC,    "requestParameters.topicArn",                                 Id),
    row(SNS, "RemovePermission",                            M, TOPIC,    "requestParameters.topicArn",                                 Id),
    row(SNS, "TagResource",                                 M, TOPIC,    "requestParameters.resourceArn",                              Id),
    row(SNS, "UntagResource",                               M, TOPIC,    "requestParameters.resourceArn",                              Id),

    // ---- SQS queues (id = queue URL) --------------------------------------------------------------------------
    row(SQS, "CreateQueue",                                 C, QUEUE,    "responseElements.queueUrl",                                  Id),
    row(SQS, "DeleteQueue",                                 D, QUEUE,    "requestParameters.queueUrl",                                 Id),
    row(SQS, "SetQueueAttributes",                          M, QUEUE,    "requestParameters.queueUrl",                                 Id),
    row(SQS, "TagQueue",                                    M, QUEUE,    "requestParameters.queueUrl",                                 Id),
    row(SQS, "UntagQueue",                                  M, QUEUE,    "requestParameters.queueUrl",                                 Id),
    row(SQS, "AddPermission",                               M, QUEUE,    "requestParameters.queueUrl",                                 Id),
    row(SQS, "RemovePermission",                            M, QUEUE,    "requestParameters.queueUrl",                                 Id),

    // ---- ECR repositories (id = repository name) --------------------------------------------------------------
    row(ECR, "CreateRepository",                            C, REPO,     "requestParameters.repositoryName",                           Id),
    row(ECR, "DeleteRepository",                            D, REPO,     "requestParameters.repositoryName",                           Id),
    row(ECR, "SetRepositoryPolicy",                         M, REPO,     "requestParameters.repositoryName",                           Id),
    row(ECR, "DeleteRepositoryPolicy",                      M, REPO,     "requestParameters.repositoryName",                           Id),
    row(ECR, "PutLifecyclePolicy",                          M, REPO,     "requestParameters.repositoryName",                           Id),
    row(ECR, "DeleteLifecyclePolicy",                       M, REPO,     "requestParameters.repositoryName",                           Id),
    row(ECR, "PutImageScanningConfiguration",               M, REPO,     "requestParameters.repositoryName",                           Id),
    row(ECR, "PutImageTagMutability",                       M, REPO,     "requestParameters.repositoryName",                           Id),
    row(ECR, "TagResource",                                 M, REPO,     "requestParameters.resourceArn",                              Arn),
    row(ECR, "UntagResource",                               M, REPO,     "requestParameters.resourceArn",                              Arn),

    // ---- EKS clusters (id = cluster name; the REST path parameter is recorded as `name`) ----------------------
    row(EKS, "CreateCluster",                               C, CLUSTER,  "requestParameters.name",                                     Id),
    row(EKS, "DeleteCluster",                               D, CLUSTER,  "requestParameters.name",                                     Id),
    row(EKS, "UpdateClusterConfig",                         M, CLUSTER,  "requestParameters.name",                                     Id),
    row(EKS, "UpdateClusterVersion",                        M, CLUSTER,  "requestParameters.name",                                     Id),
    // doubt: `clusterName` from the REST path /clusters/{clusterName}/encryption-config/associate.
    row(EKS, "AssociateEncryptionConfig",                   M, CLUSTER,  "requestParameters.clusterName",                              Id),
    row(EKS, "TagResource",                                 M, CLUSTER,  "requestParameters.resourceArn",                              Arn),
    row(EKS, "UntagResource",                               M, CLUSTER,  "requestParameters.resourceArn",                              Arn),

    // ---- Secrets Manager (id = secret ARN, name = secret name; secretId is either) ----------------------------
    // doubt: one public sample records the new secret's ARN as `ARN`; `aRN` (Java bean casing) is read as well.
    row(SECRETS, "CreateSecret",                            C, SECRET,   "responseElements.ARN",                                       Id),
    row(SECRETS, "CreateSecret",                            C, SECRET,   "responseElements.aRN",                                       Id),
    row(SECRETS, "DeleteSecret",                            D, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "RestoreSecret",                           M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "UpdateSecret",                            M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "PutSecretValue",                          M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "UpdateSecretVersionStage",                M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "RotateSecret",                            M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "CancelRotateSecret",                      M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "PutResourcePolicy",                       M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "DeleteResourcePolicy",                    M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "TagResource",                             M, SECRET,   "requestParameters.secretId",                                 NameOrArn),
    row(SECRETS, "UntagResource",                           M, SECRET,   "requestParameters.secretId",                                 NameOrArn),

    // ---- CloudWatch alarms (id = alarm name; PutMetricAlarm both creates and updates) -------------------------
    row(CW, "PutMetricAlarm",                               C, ALARM,    "requestParameters.alarmName",                                Id),
    row(CW, "DeleteAlarms",                                 D, ALARM,    "requestParameters.alarmNames[]",                             Id),
    row(CW, "EnableAlarmActions",                           M, ALARM,    "requestParameters.alarmNames[]",                             Id),
    row(CW, "DisableAlarmActions",                          M, ALARM,    "requestParameters.alarmNames[]",                             Id),
    row(CW, "TagResource",                                  M, ALARM,    "requestParameters.resourceARN",                              Arn),
    row(CW, "UntagResource",                                M, ALARM,    "requestParameters.resourceARN",                              Arn),
];
