#!/usr/bin/env python3
"""The receiving side of driftlog's delivery tests, through boto3 against an AWS-compatible
server (moto): the bucket the delivery channel writes to, SNS topics with SQS queues
subscribed, as AWS Config users set them up. Endpoint and credentials come from the
environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). Every command prints one JSON value.

    delivery.py bucket NAME                   create a bucket
    delivery.py topics NAME QUEUE R1 [R2 ...] a topic NAME in each region and one queue
                                              QUEUE (in R1) subscribed to all of them
    delivery.py http-topic NAME URL           a topic NAME with the HTTP endpoint URL subscribed
    delivery.py receive QUEUE_URL IDLE        every message until none came for IDLE s:
                                              [{topicArn, subject, seq, message}], message parsed
    delivery.py keys BUCKET [PREFIX]          the object keys
    delivery.py get BUCKET KEY                the object, gunzipped and parsed
    delivery.py head BUCKET KEY               its server-side encryption: {sse, kmsKeyId}
"""
import gzip
import json
import os
import sys
import time

import boto3

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def client(name, region=REGION):
    return boto3.client(name, region_name=region)


def topics(name, queue, regions):
    sqs = client("sqs", regions[0])
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    arns = {}
    for r in regions:
        sns = client("sns", r)
        arn = sns.create_topic(Name=name)["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
        arns[r] = arn
    return {"topics": arns, "queueUrl": url, "queueArn": qarn}


def receive(url, idle):
    region = url.split(".")[1] if ".amazonaws.com" in url else REGION
    sqs = client("sqs", region if region else REGION)
    out = []
    last = time.time()
    while time.time() - last < idle:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        msgs = got.get("Messages", [])
        for m in msgs:
            env = json.loads(m["Body"])
            attrs = env.get("MessageAttributes") or {}
            seq = attrs.get("driftlog.seq", {}).get("Value")
            out.append({
                "topicArn": env.get("TopicArn"),
                "subject": env.get("Subject"),
                "seq": int(seq) if seq is not None else None,
                "message": json.loads(env["Message"]),
            })
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if msgs:
            last = time.time()
    return out


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "help"
    if cmd == "bucket":
        client("s3").create_bucket(Bucket=argv[2])
        out = {"bucket": argv[2]}
    elif cmd == "topics":
        out = topics(argv[2], argv[3], argv[4:])
    elif cmd == "http-topic":
        sns = client("sns")
        arn = sns.create_topic(Name=argv[2])["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=argv[3])
        out = {"topicArn": arn}
    elif cmd == "receive":
        out = receive(argv[2], float(argv[3]))
    elif cmd == "keys":
        prefix = argv[3] if len(argv) > 3 else ""
        pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=argv[2], Prefix=prefix)
        out = [o["Key"] for p in pages for o in p.get("Contents", [])]
    elif cmd == "get":
        body = client("s3").get_object(Bucket=argv[2], Key=argv[3])["Body"].read()
        out = json.loads(gzip.decompress(body)) if body else None
    elif cmd == "head":
        h = client("s3").head_object(Bucket=argv[2], Key=argv[3])
        out = {"sse": h.get("ServerSideEncryption"), "kmsKeyId": h.get("SSEKMSKeyId")}
    else:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
