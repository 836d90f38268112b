#!/usr/bin/env python3
"""Builds and changes an estate of the data services (Lambda, RDS, KMS, CloudTrail,
DynamoDB) through boto3, for driftlog's tests against an AWS-compatible server (moto).
Endpoint and credentials come from the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
...). Every command prints one JSON object: the ids the test needs to assert on.

Each type exists in both security states: a public and a private DB instance and
snapshot, a rotated and an unrotated key, a trail with and without log file validation,
a table with and without point-in-time recovery, a function with and without a resource
policy.

    estate_data.py setup     the estate (us-east-1; one trail and one key in eu-west-1)
    estate_data.py change    make the private DB public, rotate the unrotated key, turn on
                             log file validation, point-in-time recovery, a resource
                             policy on the plain function, share the private snapshot
                             publicly, tag the subnet group, protect the cluster
    estate_data.py delete    delete the plain table
    estate_data.py bulk N    N functions, DB instances, snapshots, keys, trails and tables,
                             N/5 clusters and subnet groups (benchmark: `driftlog bench --aws`)
"""
import io
import json
import os
import sys
import zipfile

import boto3

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
OTHER = "eu-west-1"


def client(name, region=REGION):
    return boto3.client(name, region_name=region)


def code_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def setup():
    ec2 = client("ec2")
    iam = client("iam")
    lam = client("lambda")
    rds = client("rds")
    kms = client("kms")
    ct = client("cloudtrail")
    s3 = client("s3")
    ddb = client("dynamodb")

    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24", AvailabilityZone=REGION + "a")["Subnet"]["SubnetId"]
    sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.2.0/24", AvailabilityZone=REGION + "b")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="data-sg", Description="databases", VpcId=vpc)["GroupId"]

    # Lambda: one function in the VPC with a policy, tags and reserved concurrency; one
    # plain function.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role_arn = iam.create_role(RoleName="orders-worker-role", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    worker = lam.create_function(
        FunctionName="orders-worker", Runtime="python3.12", Role=role_arn, Handler="app.handler",
        Code={"ZipFile": code_zip()}, Description="Processes order events", Timeout=30, MemorySize=512,
        VpcConfig={"SubnetIds": [sub_a, sub_b], "SecurityGroupIds": [sg]},
        TracingConfig={"Mode": "Active"}, Tags={"team": "orders", "env": "prod"},
    )["FunctionArn"]
    lam.add_permission(
        FunctionName="orders-worker", StatementId="AllowEventBridgeNightly", Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com", SourceArn=f"arn:aws:events:{REGION}:123456789012:rule/orders-nightly",
    )
    lam.put_function_concurrency(FunctionName="orders-worker", ReservedConcurrentExecutions=50)
    lam.create_function(
        FunctionName="plain-fn", Runtime="python3.12", Role=role_arn, Handler="app.handler",
        Code={"ZipFile": code_zip()},
    )

    # RDS: a subnet group, a public and a private instance, a cluster, two snapshots.
    rds.create_db_subnet_group(
        DBSubnetGroupName="orders-db-subnets", DBSubnetGroupDescription="Private subnets for the orders database",
        SubnetIds=[sub_a, sub_b], Tags=[{"Key": "team", "Value": "orders"}],
    )
    public_db = rds.create_db_instance(
        DBInstanceIdentifier="public-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin_user", MasterUserPassword="secret-password-1", AllocatedStorage=20,
        DBSubnetGroupName="orders-db-subnets", VpcSecurityGroupIds=[sg], PubliclyAccessible=True,
        Tags=[{"Key": "team", "Value": "orders"}, {"Key": "exposure", "Value": "public"}],
    )["DBInstance"]
    private_db = rds.create_db_instance(
        DBInstanceIdentifier="private-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin_user", MasterUserPassword="secret-password-1", AllocatedStorage=20,
        DBSubnetGroupName="orders-db-subnets", VpcSecurityGroupIds=[sg], PubliclyAccessible=False,
        StorageEncrypted=True, Tags=[{"Key": "team", "Value": "orders"}],
    )["DBInstance"]
    cluster = rds.create_db_cluster(
        DBClusterIdentifier="orders-aurora", Engine="aurora-postgresql", MasterUsername="admin_user",
        MasterUserPassword="secret-password-1", DBSubnetGroupName="orders-db-subnets",
        VpcSecurityGroupIds=[sg], StorageEncrypted=True, Tags=[{"Key": "team", "Value": "orders"}],
    )["DBCluster"]
    rds.create_db_instance(
        DBInstanceIdentifier="orders-aurora-1", DBInstanceClass="db.r6g.large", Engine="aurora-postgresql",
        DBClusterIdentifier="orders-aurora",
    )
    rds.create_db_snapshot(DBSnapshotIdentifier="public-snap", DBInstanceIdentifier="public-db",
                           Tags=[{"Key": "purpose", "Value": "share"}])
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="public-snap", AttributeName="restore", ValuesToAdd=["all"])
    rds.create_db_snapshot(DBSnapshotIdentifier="private-snap", DBInstanceIdentifier="private-db")

    # KMS: a rotated key with tags, an unrotated one, and one in another region.
    rotated = kms.create_key(Description="Data key for orders workloads", Tags=[{"TagKey": "team", "TagValue": "platform"}])["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=rotated)
    unrotated = kms.create_key(Description="Legacy key")["KeyMetadata"]["KeyId"]
    elsewhere = client("kms", OTHER).create_key(Description="Key in another region")["KeyMetadata"]["KeyId"]

    # CloudTrail: a validated multi-region trail with tags, a plain one, and one homed in
    # another region.
    s3.create_bucket(Bucket="example-trail-logs")
    client("s3", OTHER).create_bucket(Bucket="example-trail-logs-eu", CreateBucketConfiguration={"LocationConstraint": OTHER})
    audit = ct.create_trail(
        Name="org-audit", S3BucketName="example-trail-logs", S3KeyPrefix="audit", IsMultiRegionTrail=True,
        EnableLogFileValidation=True, IncludeGlobalServiceEvents=True, KmsKeyId=rotated,
        TagsList=[{"Key": "team", "Value": "security"}],
    )["TrailARN"]
    plain_trail = ct.create_trail(Name="plain-trail", S3BucketName="example-trail-logs")["TrailARN"]
    eu_trail = client("cloudtrail", OTHER).create_trail(Name="eu-trail", S3BucketName="example-trail-logs-eu")["TrailARN"]

    # DynamoDB: a table with point-in-time recovery, KMS encryption, an index and tags; a
    # plain one.
    orders = ddb.create_table(
        TableName="orders", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"},
                              {"AttributeName": "customerId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-customer", "KeySchema": [{"AttributeName": "customerId", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status", "total"]}}],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": rotated},
        Tags=[{"Key": "team", "Value": "orders"}, {"Key": "env", "Value": "prod"}],
    )["TableDescription"]["TableArn"]
    ddb.update_continuous_backups(TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.create_table(
        TableName="plain", BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )

    return {
        "vpc": vpc, "subnets": [sub_a, sub_b], "sg": sg, "role_arn": role_arn, "worker_arn": worker,
        "public_db": public_db["DbiResourceId"], "private_db": private_db["DbiResourceId"],
        "cluster": cluster["DbClusterResourceId"], "cluster_arn": cluster["DBClusterArn"],
        "rotated_key": rotated, "unrotated_key": unrotated, "other_region_key": elsewhere,
        "audit_trail_arn": audit, "plain_trail_arn": plain_trail, "eu_trail_arn": eu_trail,
        "orders_table_arn": orders,
    }


def change():
    rds = client("rds")
    rds.modify_db_instance(DBInstanceIdentifier="private-db", PubliclyAccessible=True, ApplyImmediately=True)
    rds.modify_db_cluster(DBClusterIdentifier="orders-aurora", DeletionProtection=True, ApplyImmediately=True)
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="private-snap", AttributeName="restore", ValuesToAdd=["all"])
    group_arn = rds.describe_db_subnet_groups(DBSubnetGroupName="orders-db-subnets")["DBSubnetGroups"][0]["DBSubnetGroupArn"]
    rds.add_tags_to_resource(ResourceName=group_arn, Tags=[{"Key": "env", "Value": "prod"}])
    kms = client("kms")
    key = [k for k in kms.list_keys()["Keys"]
           if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"].get("Description") == "Legacy key"][0]["KeyId"]
    kms.enable_key_rotation(KeyId=key)
    client("cloudtrail").update_trail(Name="plain-trail", EnableLogFileValidation=True)
    client("dynamodb").update_continuous_backups(TableName="plain", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    client("lambda").add_permission(
        FunctionName="plain-fn", StatementId="AllowS3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
    )
    return {"key": key, "subnet_group_arn": group_arn}


def delete():
    client("dynamodb").delete_table(TableName="plain")
    return {"deleted": "plain"}


def bulk(n):
    ec2 = client("ec2")
    lam = client("lambda")
    rds = client("rds")
    kms = client("kms")
    ct = client("cloudtrail")
    ddb = client("dynamodb")
    vpc = ec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    subs = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.31.{i}.0/24", AvailabilityZone=REGION + z)["Subnet"]["SubnetId"]
            for i, z in ((1, "a"), (2, "b"))]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = client("iam").create_role(RoleName="bulk-fn-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    client("s3").create_bucket(Bucket="bulk-trail-logs")
    code = code_zip()
    groups = max(1, n // 5)
    for g in range(groups):
        rds.create_db_subnet_group(DBSubnetGroupName=f"bulk-subnets-{g}", DBSubnetGroupDescription="bulk", SubnetIds=subs)
        rds.create_db_cluster(DBClusterIdentifier=f"bulk-cluster-{g}", Engine="aurora-postgresql", MasterUsername="admin_user",
                              MasterUserPassword="secret-password-1", DBSubnetGroupName=f"bulk-subnets-{g}")
    for i in range(n):
        lam.create_function(FunctionName=f"bulk-fn-{i}", Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": code}, Tags={"bulk": str(i)})
        rds.create_db_instance(DBInstanceIdentifier=f"bulk-db-{i}", DBInstanceClass="db.t3.micro", Engine="postgres",
                               MasterUsername="admin_user", MasterUserPassword="secret-password-1", AllocatedStorage=20,
                               DBSubnetGroupName=f"bulk-subnets-{i % groups}", PubliclyAccessible=i % 2 == 0)
        rds.create_db_snapshot(DBSnapshotIdentifier=f"bulk-snap-{i}", DBInstanceIdentifier=f"bulk-db-{i}")
        key = kms.create_key(Description=f"bulk key {i}")["KeyMetadata"]["KeyId"]
        if i % 2:
            kms.enable_key_rotation(KeyId=key)
        ct.create_trail(Name=f"bulk-trail-{i}", S3BucketName="bulk-trail-logs", EnableLogFileValidation=i % 2 == 0)
        ddb.create_table(TableName=f"bulk-table-{i}", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    return {"created": 6 * n + 2 * groups}


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "setup":
        out = setup()
    elif cmd == "change":
        out = change()
    elif cmd == "delete":
        out = delete()
    elif cmd == "bulk":
        out = bulk(int(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
