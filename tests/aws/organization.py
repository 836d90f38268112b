#!/usr/bin/env python3
"""An AWS organization on an AWS-compatible server (moto), as an organization aggregator
reads it. Endpoint and credentials come from the environment (AWS_ENDPOINT_URL, ...); the
calling account becomes the management account. Prints one JSON value.

    organization.py create N     an organization with N created member accounts:
                                 {"management": ID, "accounts": [every ACTIVE account id]}
    organization.py add NAME     one more member account: {"accounts": [...]} as above
"""
import json
import sys

import boto3


def active(org):
    accounts = []
    for page in org.get_paginator("list_accounts").paginate():
        accounts += [a["Id"] for a in page["Accounts"] if a["Status"] == "ACTIVE"]
    return sorted(accounts)


def main(argv):
    org = boto3.client("organizations", region_name="us-east-1")
    if argv[1] == "create":
        created = org.create_organization(FeatureSet="ALL")["Organization"]
        for i in range(int(argv[2])):
            org.create_account(Email=f"member{i}@example.com", AccountName=f"member-{i}")
        print(json.dumps({"management": created["MasterAccountId"], "accounts": active(org)}))
        return 0
    if argv[1] == "add":
        org.create_account(Email=f"{argv[2]}@example.com", AccountName=argv[2])
        print(json.dumps({"accounts": active(org)}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
