"""Drives driftlog's AWS Config API with the real boto3 `config` client.

Reads a JSON list of calls on stdin, each {"op": "DescribeConfigurationRecorders",
"params": {...}, "paginate": "resourceIdentifiers"?, "raw": {"target": ..., "body": ...}?},
and prints a JSON list of results: {"ok": <response without ResponseMetadata>} or
{"error": {"code", "message", "status"}}. Times come back as epoch seconds.
Environment: AWS_ENDPOINT_URL_CONFIG (driftlog), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION.
"""
import datetime
import json
import os
import re
import sys
import urllib.request

import boto3
import botocore.config
from botocore.exceptions import ClientError

def snake(op):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()

def plain(v):
    if isinstance(v, datetime.datetime):
        return v.timestamp()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items() if k != "ResponseMetadata"}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v

def raw(endpoint, target, body, headers):
    """An unsigned request of our own making (malformed input tests)."""
    req = urllib.request.Request(endpoint, data=body.encode(), method="POST")
    req.add_header("Content-Type", "application/x-amz-json-1.1")
    if target is not None:
        req.add_header("X-Amz-Target", target)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return {"ok": json.loads(r.read() or b"{}"), "status": r.status}
    except urllib.error.HTTPError as e:
        data = json.loads(e.read() or b"{}")
        return {"error": {"code": data.get("__type"), "message": data.get("message"), "status": e.code,
                          "errortype": e.headers.get("x-amzn-ErrorType")}}

def main():
    endpoint = os.environ["AWS_ENDPOINT_URL_CONFIG"]
    client = boto3.client(
        "config",
        endpoint_url=endpoint,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    out = []
    for call in json.load(sys.stdin):
        if "raw" in call:
            r = call["raw"]
            out.append(raw(endpoint, r.get("target"), r.get("body", "{}"), r.get("headers")))
            continue
        op, params = call["op"], call.get("params", {})
        try:
            if call.get("paginate"):
                pages = client.get_paginator(snake(op)).paginate(**params)
                items, n = [], 0
                for p in pages:
                    n += 1
                    items.extend(p[call["paginate"]])
                out.append({"ok": {"items": plain(items), "pages": n}})
            else:
                out.append({"ok": plain(getattr(client, snake(op))(**params))})
        except ClientError as e:
            err = e.response["Error"]
            out.append({"error": {"code": err.get("Code"), "message": err.get("Message"),
                                  "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}})
        except Exception as e:  # a client-side failure: report it, the test decides
            out.append({"error": {"code": type(e).__name__, "message": str(e), "status": None}})
    json.dump(out, sys.stdout)

main()
