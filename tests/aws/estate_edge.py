#!/usr/bin/env python3
"""Builds and changes the "edge services" part of an AWS estate through boto3, for
driftlog's tests against moto: load balancers and listeners, SNS topics, SQS queues, ECR
repositories, EKS clusters, Secrets Manager secrets, CloudWatch alarms, NAT gateways,
Elastic IPs, VPC endpoints and flow logs, each in both security states. Endpoint and
credentials come from the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). Every
command prints one JSON object: the ids the test needs.

    estate_edge.py setup                    the whole edge estate (its own VPC)
    estate_edge.py protect-lb ARN           turn on deletion protection
    estate_edge.py encrypt-topic ARN        encrypt a topic with a KMS alias
    estate_edge.py queue-visibility URL N   set a queue's visibility timeout
    estate_edge.py scan-on-push NAME        turn on image scanning on push
    estate_edge.py rotate-secret ARN        turn rotation on (every 30 days)
    estate_edge.py associate-eip ALLOC I    associate an Elastic IP with an instance
    estate_edge.py tag-nat NAT K V          tag a NAT gateway
    estate_edge.py delete-topic ARN         delete a topic
    estate_edge.py release-eip ALLOC        release an Elastic IP
    estate_edge.py bulk N                   N topics, queues, repositories, secrets, alarms,
                                            Elastic IPs, load balancers with a listener each;
                                            N/5 clusters, NAT gateways, VPC endpoints and
                                            flow logs (benchmark: `driftlog bench --aws`)
"""
import json
import os
import sys

import boto3

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def client(name):
    return boto3.client(name, region_name=REGION)


def tags(**kv):
    return [{"Key": k, "Value": v} for k, v in kv.items()]


def setup():
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone=REGION + "a")["Subnet"]["SubnetId"]
    sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.2.0/24", AvailabilityZone=REGION + "b")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="edge-lb", Description="edge lb", VpcId=vpc)["GroupId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=sub_a)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             SubnetId=sub_a)["Instances"][0]["InstanceId"]

    # Elastic IPs: one associated with an instance, one for the NAT gateway, one idle.
    eip_inst = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": tags(Name="bastion-ip")}])
    ec2.associate_address(AllocationId=eip_inst["AllocationId"], InstanceId=inst)
    eip_nat = ec2.allocate_address(Domain="vpc")["AllocationId"]
    eip_idle = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=sub_a, AllocationId=eip_nat, TagSpecifications=[
        {"ResourceType": "natgateway", "Tags": tags(Name="nat-a")}])["NatGateway"]["NatGatewayId"]

    # VPC endpoints: a gateway endpoint (S3, on a route table) and an interface endpoint
    # (Secrets Manager, in two subnets, with a security group).
    vpce_gw = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3",
                                      VpcEndpointType="Gateway", RouteTableIds=[rtb])["VpcEndpoint"]["VpcEndpointId"]
    vpce_if = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.secretsmanager", VpcEndpointType="Interface",
        SubnetIds=[sub_a, sub_b], SecurityGroupIds=[sg], PrivateDnsEnabled=True,
        TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": tags(Name="secretsmanager-endpoint")}],
    )["VpcEndpoint"]["VpcEndpointId"]

    # Flow logs: one on the VPC to S3, none on the default VPC (the "without" state).
    # moto looks the whole destination up as a bucket name: no key prefix.
    s3 = client("s3")
    s3.create_bucket(Bucket="edge-flow-logs")
    fl = ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL",
                              LogDestinationType="s3", LogDestination="arn:aws:s3:::edge-flow-logs",
                              TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": tags(Name="edge-flow-log")}])
    flow_log = fl["FlowLogIds"][0]

    # Load balancers: a public one without deletion protection, an internal one with it.
    elb = client("elbv2")
    public = elb.create_load_balancer(Name="edge-public", Subnets=[sub_a, sub_b], SecurityGroups=[sg],
                                      Scheme="internet-facing", Type="application",
                                      Tags=tags(env="prod", team="web"))["LoadBalancers"][0]["LoadBalancerArn"]
    internal = elb.create_load_balancer(Name="edge-internal", Subnets=[sub_a, sub_b], SecurityGroups=[sg],
                                        Scheme="internal", Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    elb.modify_load_balancer_attributes(LoadBalancerArn=internal, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "true"}])
    tg = elb.create_target_group(Name="edge-app", Protocol="HTTP", Port=8080, VpcId=vpc,
                                 TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    redirect = elb.create_listener(LoadBalancerArn=public, Protocol="HTTP", Port=80, DefaultActions=[{
        "Type": "redirect", "Order": 1, "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])["Listeners"][0]["ListenerArn"]
    forward = elb.create_listener(LoadBalancerArn=internal, Protocol="HTTP", Port=8080, DefaultActions=[{
        "Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]

    # SNS: an encrypted topic and a plain one.
    sns = client("sns")
    topic_enc = sns.create_topic(Name="edge-events", Attributes={"KmsMasterKeyId": "alias/aws/sns",
                                                                 "DisplayName": "Edge events"},
                                 Tags=tags(env="prod"))["TopicArn"]
    topic_plain = sns.create_topic(Name="edge-plain")["TopicArn"]

    # SQS: an encrypted queue with a dead-letter queue, and a plain one.
    sqs = client("sqs")
    dlq = sqs.create_queue(QueueName="edge-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q_enc = sqs.create_queue(QueueName="edge-orders", Attributes={
        "KmsMasterKeyId": "alias/app-queues", "KmsDataKeyReusePeriodSeconds": "300",
        "VisibilityTimeout": "60",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
        tags={"env": "prod"})["QueueUrl"]

    # ECR: an immutable repository scanned on push with both policies, and a plain one.
    ecr = client("ecr")
    repo = ecr.create_repository(repositoryName="app/api", imageTagMutability="IMMUTABLE",
                                 imageScanningConfiguration={"scanOnPush": True},
                                 tags=tags(team="platform"))["repository"]["repositoryName"]
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=json.dumps({"rules": [{
        "rulePriority": 1, "description": "keep last 30 images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
        "action": {"type": "expire"}}]}))
    ecr.set_repository_policy(repositoryName=repo, policyText=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "AllowPull", "Effect": "Allow",
                                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                                "Action": ["ecr:BatchGetImage"]}]}))
    plain_repo = ecr.create_repository(repositoryName="scratch")["repository"]["repositoryName"]

    # EKS: a cluster with a public endpoint and one private, logging and encrypting.
    eks = client("eks")
    role = "arn:aws:iam::123456789012:role/eks-cluster-role"
    eks.create_cluster(name="edge-public", version="1.29", roleArn=role,
                       resourcesVpcConfig={"subnetIds": [sub_a, sub_b], "securityGroupIds": [sg],
                                           "endpointPublicAccess": True, "endpointPrivateAccess": False},
                       tags={"env": "dev"})
    eks.create_cluster(name="edge-private", version="1.29", roleArn=role,
                       resourcesVpcConfig={"subnetIds": [sub_a, sub_b], "securityGroupIds": [sg],
                                           "endpointPublicAccess": False, "endpointPrivateAccess": True},
                       logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]},
                       encryptionConfig=[{"resources": ["secrets"], "provider": {
                           "keyArn": "arn:aws:kms:us-east-1:123456789012:key/1b2c3d4e-5f60-7182-93a4-b5c6d7e8f90a"}}],
                       tags={"env": "prod"})

    # Secrets Manager: a rotated secret and an unrotated one. moto rotates without a
    # Lambda function when none is named (AWS would require one).
    sm = client("secretsmanager")
    rotated = sm.create_secret(Name="prod/app/db-password", SecretString="s3cret",
                               Description="Password for the prod app database",
                               Tags=tags(env="prod"))["ARN"]
    sm.rotate_secret(SecretId=rotated, RotationRules={"AutomaticallyAfterDays": 30})
    unrotated = sm.create_secret(Name="dev/app/api-key", SecretString="k3y")["ARN"]

    # CloudWatch: an alarm with an SNS action, one without actions.
    cw = client("cloudwatch")
    cw.put_metric_alarm(AlarmName="api-5xx-high", AlarmDescription="5xx above 10 per minute",
                        ActionsEnabled=True, AlarmActions=[topic_enc], MetricName="HTTPCode_Target_5XX_Count",
                        Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=5,
                        DatapointsToAlarm=3, Threshold=10.0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching",
                        Dimensions=[{"Name": "LoadBalancer", "Value": "app/edge-public/0a1b2c3d4e5f6071"}])
    cw.put_metric_alarm(AlarmName="cpu-high-silent", ActionsEnabled=False, MetricName="CPUUtilization",
                        Namespace="AWS/EC2", Statistic="Average", Period=300, EvaluationPeriods=1,
                        Threshold=90.0, ComparisonOperator="GreaterThanThreshold")

    return {
        "vpc": vpc, "subnets": [sub_a, sub_b], "sg": sg, "rtb": rtb, "instance": inst,
        "eip_instance": eip_inst["AllocationId"], "eip_instance_ip": eip_inst["PublicIp"],
        "eip_nat": eip_nat, "eip_idle": eip_idle, "nat": nat,
        "vpce_gateway": vpce_gw, "vpce_interface": vpce_if, "flow_log": flow_log,
        "lb_public": public, "lb_internal": internal, "listener_redirect": redirect,
        "listener_forward": forward, "target_group": tg,
        "topic_encrypted": topic_enc, "topic_plain": topic_plain,
        "queue_encrypted": q_enc, "queue_dlq": dlq,
        "repo": repo, "repo_plain": plain_repo,
        "secret_rotated": rotated, "secret_unrotated": unrotated,
        "alarms": ["api-5xx-high", "cpu-high-silent"],
    }


def bulk(n):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    subs = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.41.{i}.0/24", AvailabilityZone=REGION + z)["Subnet"]["SubnetId"]
            for i, z in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName="bulk-lb", Description="bulk lb", VpcId=vpc)["GroupId"]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    elb, sns, sqs, ecr = client("elbv2"), client("sns"), client("sqs"), client("ecr")
    sm, cw, eks = client("secretsmanager"), client("cloudwatch"), client("eks")
    client("s3").create_bucket(Bucket="bulk-flow-logs")
    for i in range(n):
        topic = sns.create_topic(Name=f"bulk-topic-{i}")["TopicArn"]
        sqs.create_queue(QueueName=f"bulk-queue-{i}", Attributes={"VisibilityTimeout": str(30 + i)})
        ecr.create_repository(repositoryName=f"bulk/repo-{i}", imageScanningConfiguration={"scanOnPush": i % 2 == 0})
        sm.create_secret(Name=f"bulk/secret-{i}", SecretString=f"value-{i}")
        cw.put_metric_alarm(AlarmName=f"bulk-alarm-{i}", ActionsEnabled=True, AlarmActions=[topic],
                            MetricName="CPUUtilization", Namespace="AWS/EC2", Statistic="Average", Period=300,
                            EvaluationPeriods=1, Threshold=80.0, ComparisonOperator="GreaterThanThreshold")
        ec2.allocate_address(Domain="vpc")
        lb = elb.create_load_balancer(Name=f"bulk-lb-{i}", Subnets=subs, SecurityGroups=[sg],
                                      Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{
            "Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    fifth = max(1, n // 5)
    for i in range(fifth):
        eks.create_cluster(name=f"bulk-cluster-{i}", version="1.29", roleArn="arn:aws:iam::123456789012:role/eks",
                           resourcesVpcConfig={"subnetIds": subs, "securityGroupIds": [sg]})
        alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.create_nat_gateway(SubnetId=subs[i % 2], AllocationId=alloc)
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway",
                                RouteTableIds=[rtb])
    ec2.create_flow_logs(ResourceIds=subs, ResourceType="Subnet", TrafficType="ALL",
                         LogDestinationType="s3", LogDestination="arn:aws:s3:::bulk-flow-logs")
    return {"created": 8 * n + 4 * fifth + 2}


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "setup":
        out = setup()
    elif cmd == "bulk":
        out = bulk(int(argv[2]))
    elif cmd == "protect-lb":
        client("elbv2").modify_load_balancer_attributes(LoadBalancerArn=argv[2], Attributes=[
            {"Key": "deletion_protection.enabled", "Value": "true"}])
        out = {"ok": True}
    elif cmd == "encrypt-topic":
        client("sns").set_topic_attributes(TopicArn=argv[2], AttributeName="KmsMasterKeyId",
                                           AttributeValue="alias/aws/sns")
        out = {"ok": True}
    elif cmd == "queue-visibility":
        client("sqs").set_queue_attributes(QueueUrl=argv[2], Attributes={"VisibilityTimeout": argv[3]})
        out = {"ok": True}
    elif cmd == "scan-on-push":
        client("ecr").put_image_scanning_configuration(repositoryName=argv[2],
                                                       imageScanningConfiguration={"scanOnPush": True})
        out = {"ok": True}
    elif cmd == "rotate-secret":
        client("secretsmanager").rotate_secret(SecretId=argv[2], RotationRules={"AutomaticallyAfterDays": 30})
        out = {"ok": True}
    elif cmd == "associate-eip":
        client("ec2").associate_address(AllocationId=argv[2], InstanceId=argv[3])
        out = {"ok": True}
    elif cmd == "tag-nat":
        client("ec2").create_tags(Resources=[argv[2]], Tags=[{"Key": argv[3], "Value": argv[4]}])
        out = {"ok": True}
    elif cmd == "delete-topic":
        client("sns").delete_topic(TopicArn=argv[2])
        out = {"ok": True}
    elif cmd == "release-eip":
        client("ec2").release_address(AllocationId=argv[2])
        out = {"ok": True}
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
