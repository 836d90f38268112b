#!/usr/bin/env python3
"""CloudTrail events as AWS delivers them, for driftlog's event-driven tests on moto.
Endpoint and credentials come from the environment (AWS_ENDPOINT_URL, ...). Every command
prints one JSON object.

moto does not emit CloudTrail events for the calls it serves, so this script publishes the
events AWS would: through an EventBridge rule on the default bus with the SQS queue as its
target (PutEvents; moto routes them and writes AWS's envelope), or as a gzip CloudTrail log
file in a trail bucket whose S3 event notifications go to a queue.

    events.py setup                    the queue (+ dead-letter queue, redrive after 2
                                       receives), the EventBridge rule and target, the trail
                                       bucket and its notification queue
    events.py make-sgs N VPC           N security groups to change in a burst
    events.py event NAME SG [DELAY]    publish the CloudTrail event of NAME on group SG
                                       (AuthorizeSecurityGroupIngress, RevokeSecurityGroup-
                                       Ingress, DeleteSecurityGroup, CreateTags) through
                                       EventBridge; with DELAY, eventTime is DELAY s ago
    events.py log-file NAME SG         the same event in a CloudTrail log file in the bucket
    events.py burst N SG...            tag every SG, wait 1.2 s (events reach queues after
                                       the call), then publish N CreateTags events spread
                                       over them, 10 per PutEvents
    events.py revoke-ssh SG            revoke 0.0.0.0/0 on port 22 (the change itself)
    events.py poison                   an unreadable message on the queue
    events.py dlq                      messages in the dead-letter queue
"""
import datetime
import gzip
import io
import json
import os
import sys
import time
import uuid

import boto3

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ACCOUNT = "123456789012"
QUEUE = "driftlog-events"
DLQ = "driftlog-events-dlq"
TRAIL_QUEUE = "driftlog-trail"
BUCKET = "org-trail-bucket"
RULE = "driftlog-cloudtrail"


def client(name):
    return boto3.client(name, region_name=REGION)


def setup():
    sqs = client("sqs")
    dlq = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(QueueName=QUEUE, Attributes={
        "VisibilityTimeout": "2",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
    })["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = client("events")
    events.put_rule(Name=RULE, EventPattern=json.dumps({
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"readOnly": [False]},
    }))
    events.put_targets(Rule=RULE, Targets=[{"Id": "driftlog", "Arn": q_arn}])
    tq = sqs.create_queue(QueueName=TRAIL_QUEUE)["QueueUrl"]
    tq_arn = sqs.get_queue_attributes(QueueUrl=tq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "QueueConfigurations": [{
            "QueueArn": tq_arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "AWSLogs/"}]}},
        }],
    })
    # S3 announces the configuration with a test event first: driftlog deletes it.
    return {"queue": q, "dlq": dlq, "trail_queue": tq, "bucket": BUCKET}


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(name, sg, at=None, session="ci-run-481"):
    """The CloudTrail record AWS writes for `name` on `sg`, field for field."""
    params = {
        "AuthorizeSecurityGroupIngress": {"groupId": sg, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}},
        "RevokeSecurityGroupIngress": {"groupId": sg, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}},
        "DeleteSecurityGroup": {"groupId": sg},
        "CreateTags": {"resourcesSet": {"items": [{"resourceId": sg}]},
                       "tagSet": {"items": [{"key": "burst", "value": "1"}]}},
    }[name]
    request_id = str(uuid.uuid4())
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLEDEPLOY:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{session}",
            "accountId": ACCOUNT,
            "accessKeyId": "ASIAEXAMPLEKEY",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEDEPLOY",
                                  "arn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
                                  "accountId": ACCOUNT, "userName": "deploy"},
                "attributes": {"creationDate": iso(time.time() - 600), "mfaAuthenticated": "false"},
            },
        },
        "eventTime": iso(at if at is not None else time.time()),
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 command/ec2.authorize-security-group-ingress",
        "requestParameters": params,
        "responseElements": {"requestId": request_id, "_return": True},
        "requestID": request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"ec2.{REGION}.amazonaws.com"},
    }


def put(records):
    """Publishes records as CloudTrail does: on the default bus, source aws.ec2."""
    events = client("events")
    for i in range(0, len(records), 10):
        r = events.put_events(Entries=[{
            "Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail",
            "Detail": json.dumps(rec), "Resources": [],
        } for rec in records[i:i + 10]])
        if r.get("FailedEntryCount"):
            raise SystemExit(f"PutEvents failed: {r}")


def log_file(name, sg):
    rec = record(name, sg)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as g:
        g.write(json.dumps({"Records": [rec]}).encode())
    now = datetime.datetime.now(datetime.timezone.utc)
    key = (f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{now:%Y/%m/%d}/"
           f"{ACCOUNT}_CloudTrail_{REGION}_{now:%Y%m%dT%H%MZ}_{uuid.uuid4().hex[:16]}.json.gz")
    client("s3").put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
    return {"event_id": rec["eventID"], "key": key}


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "help"
    if cmd == "setup":
        out = setup()
    elif cmd == "make-sgs":
        ec2 = client("ec2")
        out = {"groups": [ec2.create_security_group(
            GroupName=f"burst-{i}", Description="burst", VpcId=argv[3])["GroupId"] for i in range(int(argv[2]))]}
    elif cmd == "event":
        delay = float(argv[4]) if len(argv) > 4 else 0.0
        rec = record(argv[2], argv[3], at=time.time() - delay)
        put([rec])
        out = {"event_id": rec["eventID"]}
    elif cmd == "log-file":
        out = log_file(argv[2], argv[3])
    elif cmd == "burst":
        n, groups = int(argv[2]), argv[3:]
        ec2 = client("ec2")
        changed = {}
        for g in groups:
            ec2.create_tags(Resources=[g], Tags=[{"Key": "burst", "Value": "1"}])
            changed[g] = time.time()
        time.sleep(1.2)
        put([record("CreateTags", groups[i % len(groups)], at=changed[groups[i % len(groups)]],
                    session=f"burst-{i}") for i in range(n)])
        out = {"events": n}
    elif cmd == "revoke-ssh":
        client("ec2").revoke_security_group_ingress(GroupId=argv[2], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        out = {"ok": True}
    elif cmd == "poison":
        sqs = client("sqs")
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"], MessageBody="not json {")
        out = {"ok": True}
    elif cmd == "dlq":
        sqs = client("sqs")
        url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        out = {"messages": int(a["Attributes"]["ApproximateNumberOfMessages"])}
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
