#!/usr/bin/env python3
"""Builds and changes a small AWS estate through boto3, for driftlog's tests against an
AWS-compatible server (moto). Endpoint and credentials come from the environment
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). Every command prints one JSON object: the ids
the test needs to assert on.

    estate.py setup                  a VPC with subnets, SGs, NACL, route table, IGW,
                                     instances with ENIs and volumes, IAM principals and
                                     policies, S3 buckets with policies
    estate.py open-ssh SG            authorize 0.0.0.0/0 on port 22
    estate.py attach-policy ROLE ARN attach a managed policy to a role
    estate.py put-bucket-policy B    put a bucket policy
    estate.py terminate INSTANCE     terminate an instance
    estate.py delete-sg SG           delete a security group
    estate.py create-sg NAME VPC     create a security group
    estate.py bulk SGS INSTANCES     many SGs and instances (benchmark)
    estate.py buckets N              N buckets with versioning, tags and a policy (benchmark)
    estate.py auth-setup             an admin and a reader (EC2 and S3 only) with access
                                     keys, in 6 requests: for moto started with
                                     INITIAL_NO_AUTH_ACTION_COUNT=6, which then checks IAM
                                     permissions on every request
"""
import json
import os
import sys

import boto3

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def client(name):
    return boto3.client(name, region_name=REGION)


def setup():
    ec2 = client("ec2")
    iam = client("iam")
    s3 = client("s3")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "main-vpc"}])
    sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone=REGION + "a")["Subnet"]["SubnetId"]
    sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.2.0/24", AvailabilityZone=REGION + "b")["Subnet"]["SubnetId"]
    lb = ec2.create_security_group(GroupName="lb-sg", Description="load balancer", VpcId=vpc)["GroupId"]
    web = ec2.create_security_group(
        GroupName="web-sg", Description="web tier", VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "env", "Value": "prod"}]}],
    )["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "UserIdGroupPairs": [{"GroupId": lb, "Description": "from load balancer"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "198.51.100.0/24", "Description": "office"}]},
    ])
    ec2.authorize_security_group_ingress(GroupId=lb, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "UserIdGroupPairs": [{"GroupId": web}]},
    ])
    spare = ec2.create_security_group(GroupName="spare-sg", Description="to be deleted", VpcId=vpc)["GroupId"]
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=90, Protocol="6", RuleAction="deny",
                                 Egress=False, CidrBlock="0.0.0.0/0", PortRange={"From": 22, "To": 22})
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=sub_a)
    run = ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="t3.micro",
                            SubnetId=sub_a, SecurityGroupIds=[web],
                            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "app"}]}])
    instances = [i["InstanceId"] for i in run["Instances"]]
    eni = ec2.create_network_interface(SubnetId=sub_b, Groups=[web], Description="spare")["NetworkInterface"]["NetworkInterfaceId"]
    vol = ec2.create_volume(AvailabilityZone=REGION + "a", Size=20, VolumeType="gp3")["VolumeId"]
    ec2.attach_volume(VolumeId=vol, InstanceId=instances[0], Device="/dev/sdf")

    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    logs = iam.create_policy(PolicyName="app-logs-write", Path="/app/", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "*"}]}))["Policy"]
    extra = iam.create_policy(PolicyName="app-extra", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))["Policy"]
    role = iam.create_role(RoleName="app-server", AssumeRolePolicyDocument=trust, Tags=[{"Key": "team", "Value": "platform"}])["Role"]
    iam.put_role_policy(RoleName="app-server", PolicyName="read-app-data", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-app-data/*"}]}))
    iam.attach_role_policy(RoleName="app-server", PolicyArn=logs["Arn"])
    group = iam.create_group(GroupName="developers")["Group"]
    iam.attach_group_policy(GroupName="developers", PolicyArn=logs["Arn"])
    user = iam.create_user(UserName="alice", Path="/people/", Tags=[{"Key": "team", "Value": "platform"}])["User"]
    iam.add_user_to_group(GroupName="developers", UserName="alice")
    iam.put_user_policy(UserName="alice", PolicyName="self-manage", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListMFADevices", "Resource": "*"}]}))

    s3.create_bucket(Bucket="example-app-data")
    s3.put_bucket_versioning(Bucket="example-app-data", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket="example-app-data", Tagging={"TagSet": [{"Key": "env", "Value": "prod"}]})
    s3.put_public_access_block(Bucket="example-app-data", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_lifecycle_configuration(Bucket="example-app-data", LifecycleConfiguration={"Rules": [{
        "ID": "expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 30},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
    s3.create_bucket(Bucket="example-logs")
    return {
        "vpc": vpc, "subnets": [sub_a, sub_b], "web_sg": web, "lb_sg": lb, "spare_sg": spare, "acl": acl, "igw": igw,
        "rtb": rtb, "instances": instances, "eni": eni, "volume": vol,
        "role": role["RoleId"], "user": user["UserId"], "group": group["GroupId"],
        "policy": logs["PolicyId"], "policy_arn": logs["Arn"], "extra_policy": extra["PolicyId"],
        "extra_policy_arn": extra["Arn"], "buckets": ["example-app-data", "example-logs"],
    }


def bulk(sgs, instances):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.0.0/18")["Subnet"]["SubnetId"]
    ids = []
    for n in range(sgs):
        g = ec2.create_security_group(GroupName=f"bulk-{n}", Description="bulk", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1000 + n % 1000, "ToPort": 1000 + n % 1000, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
        ids.append(g)
    made = 0
    while made < instances:
        k = min(100, instances - made)
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=k, MaxCount=k, InstanceType="t3.micro",
                          SubnetId=sub, SecurityGroupIds=[ids[made % len(ids)]] if ids else [])
        made += k
    return {"vpc": vpc, "security_groups": len(ids), "instances": made}


def auth_setup():
    iam = client("iam")
    out = {}
    for name, actions in [("admin", ["*"]), ("reader", ["ec2:Describe*", "s3:Get*", "s3:List*"])]:
        user = f"driftlog-{name}"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="access", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        out[name] = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    return out


def buckets(n):
    s3 = client("s3")
    for i in range(n):
        b = f"bench-bucket-{i:05d}"
        s3.create_bucket(Bucket=b)
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "n", "Value": str(i)}]})
    return {"buckets": n}


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "help"
    if cmd == "setup":
        out = setup()
    elif cmd == "open-ssh":
        client("ec2").authorize_security_group_ingress(GroupId=argv[2], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        out = {"ok": True}
    elif cmd == "attach-policy":
        client("iam").attach_role_policy(RoleName=argv[2], PolicyArn=argv[3])
        out = {"ok": True}
    elif cmd == "put-bucket-policy":
        b = argv[2]
        client("s3").put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
        out = {"ok": True}
    elif cmd == "terminate":
        client("ec2").terminate_instances(InstanceIds=[argv[2]])
        out = {"ok": True}
    elif cmd == "create-sg":
        g = client("ec2").create_security_group(GroupName=argv[2], Description="created later", VpcId=argv[3])
        out = {"group": g["GroupId"]}
    elif cmd == "delete-sg":
        client("ec2").delete_security_group(GroupId=argv[2])
        out = {"ok": True}
    elif cmd == "auth-setup":
        out = auth_setup()
    elif cmd == "buckets":
        out = buckets(int(argv[2]))
    elif cmd == "bulk":
        out = bulk(int(argv[2]), int(argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
