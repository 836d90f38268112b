"""Drives driftlog's AWS Config rules and compliance API with the real boto3 `config` client,
end to end on the simulated estate: every operation's happy path and named errors (exact
`Error.Code`, HTTP 400), the paginators, and the compliance semantics, with managed, CEL and
external (CUSTOM_LAMBDA) rules.

    rules_api.py --tokens DIR [--immediate NAME] [--deferred NAME] [--failing NAME]

DIR is where the deferred evaluator saves each Lambda event it receives (one JSON file per
invocation, written atomically); the evaluators are the `[[evaluators]]` of the server's
configuration: IMMEDIATE answers at once (NON_COMPLIANT when a security group opens the
port in `ruleParameters.port` to 0.0.0.0/0), DEFERRED answers nothing (results come through
PutEvaluations with the saved result token), FAILING exits 1.
Environment, as config_api.py: AWS_ENDPOINT_URL_CONFIG (driftlog), AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
Progress goes to stderr; the last stdout line is a JSON summary. The first failure ends the
script with exit status 1 and says what and where.
"""
import argparse
import datetime
import json
import os
import re
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
SG = "AWS::EC2::SecurityGroup"
BUCKET = "AWS::S3::Bucket"
IPVE = "InvalidParameterValueException"
VE = "ValidationException"
NO_RULE = "NoSuchConfigRuleException"
CHANGE = [{"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"}]
SCHEDULED = [{"EventSource": "aws.config", "MessageType": "ScheduledNotification",
              "MaximumExecutionFrequency": "TwentyFour_Hours"}]
WORLD_V4, WORLD_V6 = "0.0.0.0/0", "::/0"
# An SG is judged against its configuration only once its ingress has not changed for
# SETTLE seconds: the verdict of a change a moment ago may still be on its way. A verdict
# still wrong after STALE seconds without a change is a failure.
SETTLE = 4.0
STALE = 20.0

# Port 22 open to the world (IPv4) on TCP or all protocols: the CEL twin of
# INCOMING_SSH_DISABLED and of the immediate evaluator.
NO_SSH_CEL = (
    "!configuration.ipPermissions.exists(p, "
    "(p.ipProtocol == '-1' || (p.ipProtocol == 'tcp' && has(p.fromPort) && p.fromPort <= 22 && p.toPort >= 22)) "
    "&& has(p.ipv4Ranges) && p.ipv4Ranges.exists(r, r.cidrIp == '0.0.0.0/0'))"
)

CLIENT = None
ACCOUNT = None
STEP = ["start"]
ERROR_CASES = [0]


class Failure(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def step(name):
    STEP[0] = name
    log(f"== {name}")


def check(cond, msg):
    if not cond:
        raise Failure(msg() if callable(msg) else msg)


def snake(op):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()


def short(v, n=300):
    s = json.dumps(v, default=str)
    return s if len(s) <= n else s[:n] + "..."


def call(op, **params):
    """One call that must succeed; the response without ResponseMetadata."""
    try:
        r = getattr(CLIENT, snake(op))(**params)
    except ClientError as e:
        err = e.response.get("Error", {})
        raise Failure(f"{op} {short(params)} failed: {err.get('Code')}: {err.get('Message')}")
    r.pop("ResponseMetadata", None)
    return r


def error_of(op, params):
    """(code, message, HTTP status) of a call expected to fail; None if it succeeded."""
    try:
        getattr(CLIENT, snake(op))(**params)
    except ClientError as e:
        err = e.response.get("Error", {})
        return err.get("Code"), err.get("Message"), e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


def error_table(cases):
    """Each (label, op, params, code) must fail with exactly that code, HTTP 400; every
    mismatch of the table is reported at once."""
    bad = []
    for label, op, params, code in cases:
        got = error_of(op, params)
        if got is None:
            bad.append(f"{label}: {op} succeeded, expected {code}")
        elif got[0] != code or got[2] != 400:
            bad.append(f"{label}: {op} answered {got[0]} (HTTP {got[2]}: {got[1]}), expected {code}")
    ERROR_CASES[0] += len(cases)
    check(not bad, lambda: f"{len(bad)} of {len(cases)} named errors wrong:\n  " + "\n  ".join(bad))


def paginate(op, key, page_size=None, **params):
    """Every item through boto3's paginator, and the size of each page."""
    if page_size:
        params["PaginationConfig"] = {"PageSize": page_size}
    items, sizes = [], []
    try:
        for page in CLIENT.get_paginator(snake(op)).paginate(**params):
            got = page.get(key) or []
            sizes.append(len(got))
            items.extend(got)
    except ClientError as e:
        err = e.response.get("Error", {})
        raise Failure(f"{op} paginator {short(params)} failed: {err.get('Code')}: {err.get('Message')}")
    return items, sizes


def wait_for(what, secs, f, interval=0.5):
    """Polls f until it returns something truthy (returned); f may return (None, detail) to
    say why not yet. Fails after secs with the last detail."""
    deadline = time.monotonic() + secs
    detail = None
    while True:
        got = f()
        if isinstance(got, tuple):
            got, detail = got
        if got:
            return got
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {secs} s waiting for {what}" + (f": {detail}" if detail else ""))
        time.sleep(interval)


def subset(want, got, path="$"):
    """None if every member of `want` is in `got` with the same value (lists: same length,
    element by element); else where they differ."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{path}: {short(got)} is not an object"
        for k, v in want.items():
            if k not in got:
                return f"{path}.{k} missing"
            d = subset(v, got[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"{path}: {short(got)} is not {short(want)}"
        for i, (w, g) in enumerate(zip(want, got)):
            d = subset(w, g, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if want == got else f"{path}: {short(got)} != {short(want)}"


# ---- the estate ----------------------------------------------------------------------


def tags_of(row):
    t = row.get("tags")
    if isinstance(t, dict):
        return t
    return {x.get("key", x.get("Key")): x.get("value", x.get("Value")) for x in t or []}


def covers(p, port):
    proto = str(p.get("ipProtocol", "-1")).lower()
    if proto == "-1":
        return True
    if proto not in ("tcp", "6"):
        return False
    return p.get("fromPort", 0) <= port <= p.get("toPort", 65535)


def world_open(c, port, v6=True):
    """INCOMING_SSH_DISABLED's and RESTRICTED_INCOMING_TRAFFIC's test: an ingress rule opens
    TCP `port` to the whole internet."""
    for p in c.get("ipPermissions") or []:
        v4 = any(r.get("cidrIp") == WORLD_V4 for r in p.get("ipv4Ranges") or []) or WORLD_V4 in (p.get("ipRanges") or [])
        six = v6 and any(r.get("cidrIpv6") == WORLD_V6 for r in p.get("ipv6Ranges") or [])
        if (v4 or six) and covers(p, port):
            return True
    return False


class Estate:
    """The caller's security groups as the API shows them, and since when each one's
    ingress has been what it is."""

    def __init__(self, ids):
        self.ids = sorted(ids)
        self.since = {}

    def snapshot(self):
        now = time.monotonic()
        configs = {}
        for i in range(0, len(self.ids), 100):
            keys = [{"resourceType": SG, "resourceId": r} for r in self.ids[i:i + 100]]
            got = call("BatchGetResourceConfig", resourceKeys=keys)
            for item in got["baseConfigurationItems"]:
                configs[item["resourceId"]] = json.loads(item["configuration"])
        check(set(configs) == set(self.ids),
              lambda: f"BatchGetResourceConfig lost security groups: {sorted(set(self.ids) - set(configs))}")
        for rid, c in configs.items():
            key = json.dumps(c.get("ipPermissions"), sort_keys=True)
            if self.since.get(rid, (None,))[0] != key:
                self.since[rid] = (key, now)
        return configs

    def settled_before(self, t, secs=SETTLE):
        """The SGs whose ingress has not changed for `secs` before `t`."""
        return {rid for rid, (_, since) in self.since.items() if since <= t - secs}


def discover():
    def ready():
        sgs, _ = paginate("ListDiscoveredResources", "resourceIdentifiers", resourceType=SG)
        buckets, _ = paginate("ListDiscoveredResources", "resourceIdentifiers", resourceType=BUCKET)
        if len(sgs) >= 4 and buckets:
            return [sgs, buckets]
        return None, f"{len(sgs)} security groups, {len(buckets)} buckets so far"

    sgs, buckets = wait_for("the estate's security groups and buckets", 120, ready, 1)
    ids = {r["resourceId"] for r in sgs}
    check(all(r["resourceType"] == SG for r in sgs), "ListDiscoveredResources mixed types")
    rows, _ = paginate("SelectResourceConfig", "Results",
                       Expression=f"SELECT resourceId, accountId, tags WHERE resourceType = '{SG}'")
    rows = [json.loads(r) for r in rows]
    tags = {r["resourceId"]: tags_of(r) for r in rows}
    accounts = {r["accountId"] for r in rows}
    check(len(accounts) == 1, lambda: f"one account expected, SelectResourceConfig says {accounts}")
    check(set(tags) == ids, lambda: f"SelectResourceConfig and ListDiscoveredResources disagree: {sorted(set(tags) ^ ids)}")
    return ids, tags, accounts.pop(), sorted(r["resourceId"] for r in buckets)


# ---- rules ---------------------------------------------------------------------------


def rule(name, source, scope=None, params=None, **extra):
    r = {"ConfigRuleName": name, "Source": source}
    if scope is not None:
        r["Scope"] = scope
    if params is not None:
        r["InputParameters"] = params if isinstance(params, str) else json.dumps(params)
    r.update(extra)
    return r


def managed(identifier):
    return {"Owner": "AWS", "SourceIdentifier": identifier}


def cel(text, runtime="cel", details=CHANGE):
    s = {"Owner": "CUSTOM_POLICY", "CustomPolicyDetails": {"PolicyRuntime": runtime, "PolicyText": text}}
    if details is not None:
        s["SourceDetails"] = details
    return s


def lam(function, details=CHANGE):
    s = {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"}
    if details is not None:
        s["SourceDetails"] = details
    return s


def one_of(rtype, rid):
    return {"ComplianceResourceTypes": [rtype], "ComplianceResourceId": rid}


# Every managed rule driftlog implements, with valid parameters, each scoped to one resource
# that does not exist: accepted and echoed, judging nothing.
CATALOG = [
    ("INCOMING_SSH_DISABLED", SG, None),
    ("RESTRICTED_INCOMING_TRAFFIC", SG, {f"blockedPort{i}": p for i, p in enumerate(["20", "21", "3389", "3306", "4333"], 1)}),
    ("VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS", SG, {"authorizedTcpPorts": "443,1020-1025"}),
    ("VPC_DEFAULT_SECURITY_GROUP_CLOSED", SG, None),
    ("NACL_NO_UNRESTRICTED_SSH_RDP", "AWS::EC2::NetworkAcl", None),
    ("IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS", "AWS::IAM::Policy", None),
    ("IAM_ROLE_MANAGED_POLICY_CHECK", "AWS::IAM::Role", {"managedPolicyArns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ("IAM_USER_NO_POLICIES_CHECK", "AWS::IAM::User", None),
    ("S3_BUCKET_PUBLIC_READ_PROHIBITED", BUCKET, None),
    ("S3_BUCKET_PUBLIC_WRITE_PROHIBITED", BUCKET, None),
    ("S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", BUCKET, None),
    ("S3_BUCKET_VERSIONING_ENABLED", BUCKET, None),
    ("EC2_INSTANCE_NO_PUBLIC_IP", "AWS::EC2::Instance", None),
    ("REQUIRED_TAGS", SG, {"tag1Key": "owner", "tag1Value": "platform"}),
]


def catalog_rules():
    out = []
    for ident, rtype, params in CATALOG:
        extra = {"Description": f"managed rule {ident}"}
        if ident == "REQUIRED_TAGS":
            extra["MaximumExecutionFrequency"] = "TwentyFour_Hours"
        out.append(rule("managed-" + ident.lower().replace("_", "-"), managed(ident),
                        one_of(rtype, "driftlog-test-absent"), params, **extra))
    return out


def check_echo(got, want):
    name = want["ConfigRuleName"]
    rid = got.get("ConfigRuleId") or ""
    check(re.fullmatch(r"config-rule-[a-z0-9]{6}", rid), lambda: f"{name}: ConfigRuleId {rid!r}")
    arn = f"arn:aws:config:{REGION}:{ACCOUNT}:config-rule/{rid}"
    check(got.get("ConfigRuleArn") == arn, lambda: f"{name}: ConfigRuleArn {got.get('ConfigRuleArn')!r}, expected {arn!r}")
    check(got.get("ConfigRuleState") == "ACTIVE", lambda: f"{name}: ConfigRuleState {got.get('ConfigRuleState')!r}")
    for k in ("Source", "Scope"):
        if k in want:
            d = subset(want[k], got.get(k), k)
            check(d is None, lambda: f"{name}: {k} not echoed: {d}")
    if "InputParameters" in want:
        check(json.loads(got.get("InputParameters") or "null") == json.loads(want["InputParameters"]),
              lambda: f"{name}: InputParameters {got.get('InputParameters')!r}, put {want['InputParameters']!r}")
    for k in ("Description", "MaximumExecutionFrequency"):
        if k in want:
            check(got.get(k) == want[k], lambda: f"{name}: {k} {got.get(k)!r}, put {want[k]!r}")


def describe_all():
    rules, sizes = paginate("DescribeConfigRules", "ConfigRules")
    return {r["ConfigRuleName"]: r for r in rules}, rules, sizes


def results(name, page_size=100, **filters):
    """GetComplianceDetailsByConfigRule, every page: {resource id: result}, each result
    checked for shape."""
    items, _ = paginate("GetComplianceDetailsByConfigRule", "EvaluationResults", page_size,
                        ConfigRuleName=name, **filters)
    out = {}
    for r in items:
        q = r.get("EvaluationResultIdentifier", {}).get("EvaluationResultQualifier", {})
        check(q.get("ConfigRuleName") == name, lambda: f"{name}: a result of rule {q.get('ConfigRuleName')!r}")
        check(q.get("ResourceType") and q.get("ResourceId"), lambda: f"{name}: result without its resource: {short(r)}")
        check(r.get("ComplianceType") in ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"),
              lambda: f"{name}: ComplianceType {r.get('ComplianceType')!r}")
        for k in ("ResultRecordedTime", "ConfigRuleInvokedTime"):
            check(isinstance(r.get(k), datetime.datetime), lambda: f"{name}: {k} {r.get(k)!r} in {short(r)}")
        if "Annotation" in r:
            check(isinstance(r["Annotation"], str) and 1 <= len(r["Annotation"]) <= 256,
                  lambda: f"{name}: Annotation {r['Annotation']!r}")
        key = q["ResourceId"] if q["ResourceType"] == SG else (q["ResourceType"], q["ResourceId"])
        check(key not in out, lambda: f"{name}: {key} listed twice")
        out[key] = r
    return out


def compliance_by_rule(names=None, **filters):
    params = dict(filters)
    if names is not None:
        params["ConfigRuleNames"] = names
    items, _ = paginate("DescribeComplianceByConfigRule", "ComplianceByConfigRules", **params)
    out = {}
    for c in items:
        check(c["ConfigRuleName"] not in out, lambda: f"DescribeComplianceByConfigRule lists {c['ConfigRuleName']} twice")
        out[c["ConfigRuleName"]] = c.get("Compliance") or {}
    return out


def expected_compliance(res):
    types = {r["ComplianceType"] for r in res.values()}
    if "NON_COMPLIANT" in types:
        return "NON_COMPLIANT", sum(1 for r in res.values() if r["ComplianceType"] == "NON_COMPLIANT")
    if "COMPLIANT" in types:
        return "COMPLIANT", None
    return "INSUFFICIENT_DATA", None


def rule_compliance_agrees(name):
    """The rule's summary agrees with its results (read before and after, unchanged)."""
    before = results(name)
    c = compliance_by_rule([name]).get(name)
    after = results(name)
    if {k: r["ComplianceType"] for k, r in before.items()} != {k: r["ComplianceType"] for k, r in after.items()}:
        return None, "results changed while reading"
    check(c is not None, f"DescribeComplianceByConfigRule omits {name}")
    want, n = expected_compliance(after)
    if c.get("ComplianceType") != want:
        return None, f"{name}: {c.get('ComplianceType')} with results {short({str(k): r['ComplianceType'] for k, r in after.items()})}"
    if want == "NON_COMPLIANT":
        cc = c.get("ComplianceContributorCount") or {}
        if cc.get("CappedCount") != min(n, 100) or cc.get("CapExceeded") != (n > 100):
            return None, f"{name}: ComplianceContributorCount {cc}, {n} non-compliant results"
    return True


def statuses(names=None, page_size=None):
    params = {} if names is None else {"ConfigRuleNames": names}
    items, sizes = paginate("DescribeConfigRuleEvaluationStatus", "ConfigRulesEvaluationStatus", page_size, **params)
    out = {}
    for s in items:
        check(s["ConfigRuleName"] not in out, lambda: f"DescribeConfigRuleEvaluationStatus lists {s['ConfigRuleName']} twice")
        out[s["ConfigRuleName"]] = s
    return out, sizes


# ---- the deferred evaluator's events --------------------------------------------------


def events(tokens, rule_name):
    out = []
    for f in sorted(os.listdir(tokens)):
        if f.startswith(".") or not f.endswith(".json"):
            continue
        with open(os.path.join(tokens, f)) as fh:
            ev = json.load(fh)
        if ev.get("configRuleName") == rule_name:
            out.append(ev)
    return out


def check_event(ev, desc, rtype, rid, params):
    name = desc["ConfigRuleName"]
    for k in ("invokingEvent", "ruleParameters", "resultToken", "eventLeftScope", "configRuleName",
              "configRuleArn", "configRuleId", "accountId", "version"):
        check(k in ev, lambda: f"the evaluator's event lacks {k}: {sorted(ev)}")
    check(isinstance(ev["invokingEvent"], str), "invokingEvent is JSON text, as in AWS's Lambda event")
    inv = json.loads(ev["invokingEvent"])
    mt = inv.get("messageType")
    check(mt in ("ConfigurationItemChangeNotification", "ScheduledNotification"), lambda: f"invokingEvent messageType {mt!r}")
    if mt == "ConfigurationItemChangeNotification":
        ci = inv.get("configurationItem") or {}
        check((ci.get("resourceType"), ci.get("resourceId")) == (rtype, rid),
              lambda: f"invoked for {ci.get('resourceType')} {ci.get('resourceId')}, the rule is scoped to {rtype} {rid}")
        check(isinstance(ci.get("configuration"), dict), "the invoking item's configuration is an object")
        check("notificationCreationTime" in inv, "invokingEvent has notificationCreationTime")
    check(isinstance(ev["ruleParameters"], str) and json.loads(ev["ruleParameters"]) == params,
          lambda: f"ruleParameters {ev['ruleParameters']!r}, the rule's InputParameters are {params}")
    check(isinstance(ev["resultToken"], str) and ev["resultToken"], "resultToken is a non-empty string")
    check(ev["eventLeftScope"] is False, lambda: f"eventLeftScope {ev['eventLeftScope']!r}")
    check(ev["configRuleName"] == name, "configRuleName")
    check(ev["configRuleArn"] == desc["ConfigRuleArn"], lambda: f"configRuleArn {ev['configRuleArn']!r}")
    check(ev["configRuleId"] == desc["ConfigRuleId"], lambda: f"configRuleId {ev['configRuleId']!r}")
    check(ev["accountId"] == ACCOUNT, lambda: f"accountId {ev['accountId']!r}")
    check(ev["version"] == "1.0", lambda: f"version {ev['version']!r}")


# ---- the scenario --------------------------------------------------------------------


def run(args):
    global ACCOUNT
    started = time.monotonic()
    summary = {}

    step("discovery")
    ids, tags, ACCOUNT, buckets = discover()
    estate = Estate(ids)
    configs = estate.snapshot()
    tagged = sorted(r for r in ids if configs[r].get("groupName") != "default" and tags[r].get("env"))
    check(len(tagged) >= 2, lambda: f"two security groups with an env tag expected, got {tagged}")
    sg0, sg1 = tagged[0], tagged[1]
    env0 = tags[sg0]["env"]
    with_env0 = {r for r in ids if tags[r].get("env") == env0}
    bucket0 = buckets[0]
    log(f"account {ACCOUNT}, {len(ids)} security groups, sg0 {sg0} (env={env0}), sg1 {sg1}, bucket {bucket0}")
    summary.update(account=ACCOUNT, securityGroups=len(ids))

    step("PutConfigRule refusals")
    ssh = managed("INCOMING_SSH_DISABLED")
    sg_scope = {"ComplianceResourceTypes": [SG]}
    put = lambda r: ("PutConfigRule", {"ConfigRule": r})  # noqa: E731
    cases = [
        ("unknown managed identifier", *put(rule("bad-1", managed("NO_SUCH_MANAGED_RULE"))), IPVE),
        ("unknown parameter name", *put(rule("bad-2", ssh, params={"port": "22"})), IPVE),
        ("missing required managedPolicyArns", *put(rule("bad-3", managed("IAM_ROLE_MANAGED_POLICY_CHECK"))), IPVE),
        ("missing required tag1Key", *put(rule("bad-4", managed("REQUIRED_TAGS"), params={"tag2Key": "env"})), IPVE),
        ("InputParameters not JSON", *put(rule("bad-5", ssh, params="not json")), IPVE),
        ("InputParameters a JSON list", *put(rule("bad-6", ssh, params="[1, 2]")), IPVE),
        ("InputParameters a JSON string", *put(rule("bad-7", cel("true"), params='"x"')), IPVE),
        ("guard policy runtime", *put(rule("bad-8", cel("rule r { configuration.x == 1 }", runtime="guard-2.x.x"))), IPVE),
        ("CEL syntax error", *put(rule("bad-9", cel("configuration.("), sg_scope)), IPVE),
        ("CEL rule without SourceDetails", *put(rule("bad-10", cel("true", details=None), sg_scope)), IPVE),
        ("undeclared evaluator", *put(rule("bad-11", lam("no-such-evaluator"), sg_scope)), "InsufficientPermissionsException"),
        ("external rule without SourceDetails", *put(rule("bad-12", lam(args.immediate, details=None), sg_scope)), IPVE),
        ("frequency on a change-triggered detail", *put(rule("bad-13", lam(args.immediate, details=[
            dict(CHANGE[0], MaximumExecutionFrequency="One_Hour")]), sg_scope)), IPVE),
        ("TagValue without TagKey", *put(rule("bad-14", ssh, {"TagValue": "prod"})), IPVE),
        ("ComplianceResourceId without a type", *put(rule("bad-15", ssh, {"ComplianceResourceId": sg0})), IPVE),
        ("ComplianceResourceId with two types", *put(rule("bad-16", ssh, {
            "ComplianceResourceTypes": [SG, "AWS::EC2::NetworkAcl"], "ComplianceResourceId": sg0})), IPVE),
        ("name of 129 characters", *put(rule("r" * 129, ssh, sg_scope)), "ValidationException"),
        ("ConfigRuleArn on create", *put(rule("bad-17", ssh, sg_scope,
                                              ConfigRuleArn=f"arn:aws:config:{REGION}:{ACCOUNT}:config-rule/config-rule-abc123")), IPVE),
        ("ConfigRuleId on create", *put(rule("bad-18", ssh, sg_scope, ConfigRuleId="config-rule-abc123")), IPVE),
        ("ConfigRuleState DELETING", *put(rule("bad-19", ssh, sg_scope, ConfigRuleState="DELETING")), IPVE),
        ("ConfigRuleState EVALUATING", *put(rule("bad-20", ssh, sg_scope, ConfigRuleState="EVALUATING")), IPVE),
        ("no ConfigRuleName", *put({"Source": ssh, "Scope": sg_scope}), IPVE),
        # What the model constrains (enums, lengths) botocore leaves to the server: ValidationException.
        ("ConfigRuleName of blanks", *put(rule("   ", ssh, sg_scope)), VE),
        ("Owner outside the enum", *put(rule("bad-21", {"Owner": "SOMEONE", "SourceIdentifier": "X"})), VE),
        ("MaximumExecutionFrequency outside the enum", *put(rule("bad-22", ssh, sg_scope, MaximumExecutionFrequency="Two_Hours")), VE),
        ("MessageType outside the enum", *put(rule("bad-23", lam(args.immediate, details=[
            {"EventSource": "aws.config", "MessageType": "SomethingChanged"}]), sg_scope)), VE),
        ("EventSource outside the enum", *put(rule("bad-24", lam(args.immediate, details=[
            {"EventSource": "aws.ec2", "MessageType": "ConfigurationItemChangeNotification"}]), sg_scope)), VE),
        ("ConfigRuleState outside the enum", *put(rule("bad-25", ssh, sg_scope, ConfigRuleState="PAUSED")), VE),
        ("TagKey of 129 characters", *put(rule("bad-26", ssh, {"TagKey": "k" * 129})), VE),
        ("a resource type of 257 characters", *put(rule("bad-27", ssh, {"ComplianceResourceTypes": ["A" * 257]})), VE),
        ("101 resource types", *put(rule("bad-28", ssh, {"ComplianceResourceTypes": [SG] * 101})), VE),
        ("26 SourceDetails", *put(rule("bad-29", lam(args.immediate, details=CHANGE * 26), sg_scope)), VE),
        ("PolicyText of 10001 characters", *put(rule("bad-30", cel("true" + " " * 9997), sg_scope)), VE),
    ]
    error_table(cases)
    guard = error_of(*put(rule("bad-8", cel("rule r { configuration.x == 1 }", runtime="guard-2.x.x"))))
    check("cel" in (guard[1] or "").lower(), lambda: f"the guard refusal should say to use cel: {guard[1]!r}")
    got, _, _ = describe_all()
    check(got == {}, lambda: f"refused rules were stored: {sorted(got)}")

    step("PutConfigRule: managed, CEL and external rules")
    wanted = catalog_rules()
    wanted += [rule(f"bulk-{i:02}", ssh, one_of(SG, "sg-driftlog-test-absent")) for i in range(8)]
    wanted += [
        rule("ssh-managed", ssh, sg_scope, Description="no SSH from the internet"),
        rule("https-managed", managed("RESTRICTED_INCOMING_TRAFFIC"), sg_scope, {"blockedPort1": "443"}),
        rule("ssh-cel", cel(NO_SSH_CEL), sg_scope, Description="INCOMING_SSH_DISABLED in CEL"),
        rule("pick-cel", cel("resourceId == ruleParameters.target ? 'NON_COMPLIANT' : true"), sg_scope, {"target": sg0}),
        rule("tagged-cel", cel("tags.env == ruleParameters.env"),
             {"ComplianceResourceTypes": [SG], "TagKey": "env", "TagValue": env0}, {"env": env0}),
        rule("broken-cel", cel("configuration.noSuchField == 1"), sg_scope),
        rule("ssh-external", lam(args.immediate), sg_scope, {"port": "22"}),
        rule("deferred-external", lam(args.deferred), one_of(BUCKET, bucket0), {"purpose": "deferred"}),
        rule("broken-external", lam(args.failing), one_of(SG, sg0)),
        rule("scheduled-external", lam(args.immediate, details=SCHEDULED), sg_scope, {"port": "22"}),
    ]
    for r in wanted:
        check(call("PutConfigRule", ConfigRule=r) == {}, "PutConfigRule answers {}")
    by_name = {r["ConfigRuleName"]: r for r in wanted}
    check(len(by_name) > 25, "more than one page of rules")

    step("DescribeConfigRules: echo, pages of 25, by name")
    got, listed, sizes = describe_all()
    check(len(listed) == len(got), "DescribeConfigRules lists a rule twice")
    check(set(got) == set(by_name), lambda: f"DescribeConfigRules lists {sorted(set(got) ^ set(by_name))} wrongly")
    check(len(sizes) >= 2 and sizes[0] == 25 and max(sizes) <= 25, lambda: f"page sizes {sizes}, pages of 25 expected")
    for name, want in by_name.items():
        check_echo(got[name], want)
    check(len({r["ConfigRuleId"] for r in listed}) == len(listed), "ConfigRuleIds are unique")
    desc = got
    two = call("DescribeConfigRules", ConfigRuleNames=["ssh-managed", "pick-cel"])["ConfigRules"]
    check(sorted(r["ConfigRuleName"] for r in two) == ["pick-cel", "ssh-managed"], lambda: f"by name: {short(two)}")
    summary["rules"] = len(listed)

    step("PutConfigRule upserts")
    again = dict(by_name["pick-cel"], Description="updated in place",
                 ConfigRuleId=desc["pick-cel"]["ConfigRuleId"], ConfigRuleArn=desc["pick-cel"]["ConfigRuleArn"])
    call("PutConfigRule", ConfigRule=again)
    now = call("DescribeConfigRules", ConfigRuleNames=["pick-cel"])["ConfigRules"][0]
    check(now["ConfigRuleId"] == desc["pick-cel"]["ConfigRuleId"], "an update keeps the ConfigRuleId")
    check(now["ConfigRuleArn"] == desc["pick-cel"]["ConfigRuleArn"], "an update keeps the ConfigRuleArn")
    check(now.get("Description") == "updated in place", lambda: f"Description after the update: {now.get('Description')!r}")
    by_name["pick-cel"] = again

    step("named errors of the read and evaluation operations")
    long_name = "x" * 65
    n26 = sorted(by_name)[:26]
    error_table([
        ("DescribeConfigRules unknown name", "DescribeConfigRules", {"ConfigRuleNames": ["ssh-managed", "no-such-rule"]}, NO_RULE),
        ("DescribeConfigRules forged token", "DescribeConfigRules", {"NextToken": "forged"}, "InvalidNextTokenException"),
        ("DeleteConfigRule unknown", "DeleteConfigRule", {"ConfigRuleName": "no-such-rule"}, NO_RULE),
        ("StartConfigRulesEvaluation unknown", "StartConfigRulesEvaluation", {"ConfigRuleNames": ["ssh-managed", "no-such-rule"]}, NO_RULE),
        ("StartConfigRulesEvaluation 26 names", "StartConfigRulesEvaluation", {"ConfigRuleNames": n26}, "ValidationException"),
        ("details: name of 65 characters", "GetComplianceDetailsByConfigRule", {"ConfigRuleName": long_name}, "ValidationException"),
        ("details: unknown rule", "GetComplianceDetailsByConfigRule", {"ConfigRuleName": "no-such-rule"}, NO_RULE),
        ("details: Limit 101", "GetComplianceDetailsByConfigRule", {"ConfigRuleName": "ssh-managed", "Limit": 101}, "ValidationException"),
        ("details: forged token", "GetComplianceDetailsByConfigRule", {"ConfigRuleName": "ssh-managed", "NextToken": "forged"}, "InvalidNextTokenException"),
        ("by rule: unknown rule", "DescribeComplianceByConfigRule", {"ConfigRuleNames": ["ssh-managed", "no-such-rule"]}, NO_RULE),
        ("by resource: id without type", "DescribeComplianceByResource", {"ResourceId": sg0}, IPVE),
        ("by resource: Limit 101", "DescribeComplianceByResource", {"ResourceType": SG, "Limit": 101}, "ValidationException"),
        ("by resource: forged token", "DescribeComplianceByResource", {"ResourceType": SG, "NextToken": "forged"}, "InvalidNextTokenException"),
        ("resource details: type without id", "GetComplianceDetailsByResource", {"ResourceType": SG}, IPVE),
        ("status: unknown rule", "DescribeConfigRuleEvaluationStatus", {"ConfigRuleNames": ["no-such-rule"]}, NO_RULE),
        ("status: Limit 51", "DescribeConfigRuleEvaluationStatus", {"Limit": 51}, "ValidationException"),
        ("by rule: NOT_APPLICABLE is not a rule's compliance", "DescribeComplianceByConfigRule", {"ComplianceTypes": ["NOT_APPLICABLE"]}, IPVE),
        ("by resource: NOT_APPLICABLE is not a resource's compliance", "DescribeComplianceByResource", {"ResourceType": SG, "ComplianceTypes": ["NOT_APPLICABLE"]}, IPVE),
        ("resource details: INSUFFICIENT_DATA filter", "GetComplianceDetailsByResource",
         {"ResourceType": SG, "ResourceId": sg0, "ComplianceTypes": ["INSUFFICIENT_DATA"]}, IPVE),
        ("compliance type outside the enum", "DescribeComplianceByResource", {"ResourceType": SG, "ComplianceTypes": ["MAYBE"]}, VE),
    ])

    step("results for every security group, agreeing with its configuration")
    judged = {
        "ssh-managed": lambda c: world_open(c, 22),
        "ssh-cel": lambda c: world_open(c, 22, v6=False),
        "ssh-external": lambda c: world_open(c, 22, v6=False),
        "https-managed": lambda c: world_open(c, 443),
    }
    wait_for("results of every SG-scoped rule for every security group", 45,
             lambda: all(len(results(n)) >= len(ids) for n in judged) or (None, {n: len(results(n)) for n in judged}), 1)
    seen = {"ssh": None, "https": None}
    deadline = time.monotonic() + 75
    passes, last = 0, None
    while True:
        t_a = time.monotonic()
        a = estate.snapshot()
        res = {n: results(n) for n in judged}
        estate.snapshot()
        settled = estate.settled_before(t_a)
        stale = estate.settled_before(t_a, STALE)
        problems, wrong = [], []
        for n, f in judged.items():
            extra = set(res[n]) - ids
            missing = ids - set(res[n])
            if extra:
                problems.append(f"{n}: results for resources that are not the caller's security groups: {sorted(map(str, extra))[:5]}")
            if missing:
                problems.append(f"{n}: no result for {sorted(missing)[:5]}")
            for rid in sorted(settled & set(res[n])):
                want = "NON_COMPLIANT" if f(a[rid]) else "COMPLIANT"
                r = res[n][rid]
                why = None
                if r["ComplianceType"] != want:
                    why = f"{n}: {rid} is {r['ComplianceType']}, its ingress makes it {want}: {short(a[rid].get('ipPermissions'), 500)}"
                elif want == "NON_COMPLIANT" and n != "ssh-cel" and not r.get("Annotation"):
                    why = f"{n}: NON_COMPLIANT {rid} without an Annotation"
                if why:
                    problems.append(why)
                    if rid in stale:
                        wrong.append(why)
        check(not wrong, lambda: f"verdicts wrong though the ingress has not changed for {STALE} s:\n  " + "\n  ".join(wrong[:8]))
        if len(settled) < max(1, len(ids) // 3):
            problems.append(f"only {len(settled)} of {len(ids)} security groups kept their ingress for {SETTLE} s")
        if not problems:
            passes += 1
            for rid in sorted(settled):
                if world_open(a[rid], 22, v6=False) and seen["ssh"] is None:
                    seen["ssh"] = rid
                if world_open(a[rid], 443) and seen["https"] is None:
                    seen["https"] = rid
            if seen["ssh"] and seen["https"] and passes >= 3:
                break
        else:
            last = problems
        if time.monotonic() > deadline:
            st, _ = statuses(list(judged))
            raise Failure(
                f"the verdicts never agreed with the configurations ({passes} agreeing reads; SSH open seen on {seen['ssh']}, "
                f"HTTPS open seen on {seen['https']}). Last disagreements:\n  " + "\n  ".join((last or ["none"])[:8])
                + "\nstatuses: " + short({n: {k: str(v) for k, v in s.items() if k.startswith("Last")} for n, s in st.items()}, 2000))
        time.sleep(1)
    log(f"verdicts agree: SSH open to the world on {seen['ssh']}, HTTPS on {seen['https']}")
    summary.update(sshOpenJudged=seen["ssh"], httpsOpenJudged=seen["https"])

    step("CEL rules: a string answer, ruleParameters, a tag-scoped rule")
    pick = wait_for("pick-cel's results", 30, lambda: (lambda r: r if len(r) == len(ids) else (None, len(r)))(results("pick-cel")))
    check({k for k, r in pick.items() if r["ComplianceType"] == "NON_COMPLIANT"} == {sg0},
          lambda: f"pick-cel: NON_COMPLIANT {sorted(k for k, r in pick.items() if r['ComplianceType'] == 'NON_COMPLIANT')}, expected only {sg0}")
    check(all(r["ComplianceType"] == "COMPLIANT" for k, r in pick.items() if k != sg0), "pick-cel: the others are COMPLIANT")
    only_bad = results("pick-cel", ComplianceTypes=["NON_COMPLIANT"])
    check(set(only_bad) == {sg0}, lambda: f"ComplianceTypes NON_COMPLIANT: {sorted(only_bad)}")
    only_good = results("pick-cel", ComplianceTypes=["COMPLIANT"])
    check(set(only_good) == ids - {sg0}, lambda: f"ComplianceTypes COMPLIANT: {sorted(set(only_good) ^ (ids - {sg0}))} wrong")
    tagged_res = wait_for("tagged-cel's results", 30,
                          lambda: (lambda r: r if set(r) == with_env0 else (None, sorted(set(r) ^ with_env0)))(results("tagged-cel")))
    check(all(r["ComplianceType"] == "COMPLIANT" for r in tagged_res.values()), "tagged-cel: every tagged SG is COMPLIANT")

    step("GetComplianceDetailsByConfigRule pages: Limit, NextToken, the default of 10")
    first = call("GetComplianceDetailsByConfigRule", ConfigRuleName="pick-cel")
    check(0 < len(first["EvaluationResults"]) <= 10, lambda: f"default page of {len(first['EvaluationResults'])}")
    check(len(ids) <= 10 or first.get("NextToken"), "more than 10 results: a NextToken")
    seen_ids, token, pages = [], None, 0
    while True:
        params = {"ConfigRuleName": "pick-cel", "Limit": 3}
        if token:
            params["NextToken"] = token
        page = call("GetComplianceDetailsByConfigRule", **params)
        pages += 1
        check(len(page["EvaluationResults"]) <= 3, lambda: f"Limit 3 gave {len(page['EvaluationResults'])}")
        seen_ids += [r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"] for r in page["EvaluationResults"]]
        token = page.get("NextToken")
        if not token:
            break
        check(pages < 1000, "the NextToken chain does not end")
    check(len(seen_ids) == len(set(seen_ids)) and set(seen_ids) == ids,
          lambda: f"pages of 3: {len(seen_ids)} results, {len(set(seen_ids))} distinct, {len(ids)} security groups")

    step("failing rules: status says why, no results")

    def failed(name, when):
        s = statuses([name])[0].get(name) or {}
        if any(s.get(k) for k in when) and s.get("LastErrorCode") and s.get("LastErrorMessage"):
            return s
        return None, short({k: str(v) for k, v in s.items()})

    # A command that exits 1 failed to be invoked; an expression that errors on every
    # resource is reported as a failed invocation or a failed evaluation.
    for name, when in (("broken-external", ["LastFailedInvocationTime"]),
                       ("broken-cel", ["LastFailedInvocationTime", "LastFailedEvaluationTime"])):
        s = wait_for(f"{name}'s failure in its status", 30, lambda: failed(name, when))
        check(all(isinstance(s[k], datetime.datetime) for k in when if k in s), lambda: f"{name}: failure times {short(s)}")
        check(results(name) == {}, lambda: f"{name} failed yet has results")
        c = compliance_by_rule([name])[name]
        check(c.get("ComplianceType") == "INSUFFICIENT_DATA", lambda: f"{name}: {c}")
        log(f"{name}: {s['LastErrorCode']}: {s['LastErrorMessage']}")

    step("DescribeConfigRuleEvaluationStatus")
    st, sizes = statuses(page_size=10)
    check(set(st) == set(by_name), lambda: f"statuses of {sorted(set(st) ^ set(by_name))} wrong")
    check(max(sizes) <= 10 and len(sizes) >= 3, lambda: f"Limit 10 page sizes {sizes}")
    for name, s in st.items():
        check(s.get("ConfigRuleArn") == desc[name]["ConfigRuleArn"] and s.get("ConfigRuleId") == desc[name]["ConfigRuleId"],
              lambda: f"{name}: status names {s.get('ConfigRuleArn')} {s.get('ConfigRuleId')}")
        check(isinstance(s.get("FirstActivatedTime"), datetime.datetime), lambda: f"{name}: FirstActivatedTime {s.get('FirstActivatedTime')!r}")
    for name in ("ssh-managed", "https-managed", "ssh-cel", "pick-cel", "tagged-cel", "ssh-external"):
        s = st[name]
        for k in ("LastSuccessfulInvocationTime", "LastSuccessfulEvaluationTime"):
            check(isinstance(s.get(k), datetime.datetime), lambda: f"{name}: {k} {s.get(k)!r}")
        for k in ("LastFailedInvocationTime", "LastFailedEvaluationTime", "LastErrorCode", "LastErrorMessage"):
            check(not s.get(k), lambda: f"{name} never fails, yet {k} = {s.get(k)!r}: {short({k: str(v) for k, v in s.items()})}")
    some, _ = statuses(["ssh-managed", "broken-cel"])
    check(set(some) == {"ssh-managed", "broken-cel"}, lambda: f"by name: {sorted(some)}")
    # Named out of order and one per page: every named rule once.
    unordered = ["ssh-managed", "broken-cel", "pick-cel", "https-managed"]
    some, sizes = statuses(unordered, page_size=1)
    check(set(some) == set(unordered) and len(sizes) == 4, lambda: f"by name, Limit 1: {sorted(some)} in pages {sizes}")

    step("the deferred evaluator: its Lambda event, then PutEvaluations")
    d_desc = desc["deferred-external"]
    evs = wait_for("the deferred evaluator's first invocation", 30, lambda: events(args.tokens, "deferred-external"))
    for ev in evs:
        check_event(ev, d_desc, BUCKET, bucket0, {"purpose": "deferred"})
    token = evs[-1]["resultToken"]
    check(results("deferred-external") == {}, "an evaluator that answers nothing leaves no results")
    check(compliance_by_rule(["deferred-external"])["deferred-external"].get("ComplianceType") == "INSUFFICIENT_DATA",
          "no results yet: INSUFFICIENT_DATA")
    evaluation = lambda ctype, **kw: dict({  # noqa: E731
        "ComplianceResourceType": BUCKET, "ComplianceResourceId": bucket0, "ComplianceType": ctype,
        "OrderingTimestamp": datetime.datetime.now(datetime.timezone.utc)}, **kw)
    error_table([
        ("forged token", "PutEvaluations", {"ResultToken": "forged-token", "Evaluations": [evaluation("COMPLIANT")]}, "InvalidResultTokenException"),
        ("no evaluations", "PutEvaluations", {"ResultToken": token, "Evaluations": []}, IPVE),
        ("INSUFFICIENT_DATA", "PutEvaluations", {"ResultToken": token, "Evaluations": [evaluation("INSUFFICIENT_DATA")]}, IPVE),
    ])
    # The token names a rule of this region: a caller of another region cannot use it.
    other = boto3.client("config", region_name="eu-west-1" if REGION != "eu-west-1" else "us-west-2",
                         endpoint_url=os.environ["AWS_ENDPOINT_URL_CONFIG"],
                         config=botocore.config.Config(retries={"max_attempts": 1}))
    try:
        other.put_evaluations(ResultToken=token, Evaluations=[evaluation("NON_COMPLIANT")])
        check(False, "another region's caller used this region's result token")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        check(code == "InvalidResultTokenException", lambda: f"another region's caller: {code}")
    r = call("PutEvaluations", ResultToken="any-token-in-test-mode", Evaluations=[evaluation("NON_COMPLIANT", Annotation="test mode")], TestMode=True)
    check(r.get("FailedEvaluations") == [], lambda: f"TestMode: {short(r)}")
    time.sleep(1)
    check(results("deferred-external") == {}, "TestMode records nothing")
    r = call("PutEvaluations", ResultToken=token, Evaluations=[evaluation("NON_COMPLIANT", Annotation="reported later through PutEvaluations")])
    check(r.get("FailedEvaluations") == [], lambda: f"PutEvaluations: {short(r)}")

    def deferred_is(ctype):
        res = results("deferred-external")
        r = res.get((BUCKET, bucket0))
        if len(res) == 1 and r and r["ComplianceType"] == ctype:
            return r
        return None, short({str(k): v["ComplianceType"] for k, v in res.items()})

    r = wait_for("the PutEvaluations result", 15, lambda: deferred_is("NON_COMPLIANT"))
    check(r.get("Annotation") == "reported later through PutEvaluations", lambda: f"Annotation {r.get('Annotation')!r}")
    c = compliance_by_rule(["deferred-external"])["deferred-external"]
    check(c.get("ComplianceType") == "NON_COMPLIANT" and c.get("ComplianceContributorCount") == {"CappedCount": 1, "CapExceeded": False},
          lambda: f"deferred-external after PutEvaluations: {c}")
    by_res = call("DescribeComplianceByResource", ResourceType=BUCKET, ResourceId=bucket0)["ComplianceByResources"]
    check(len(by_res) == 1 and by_res[0]["ResourceId"] == bucket0 and by_res[0]["ResourceType"] == BUCKET
          and by_res[0]["Compliance"].get("ComplianceType") == "NON_COMPLIANT"
          and by_res[0]["Compliance"].get("ComplianceContributorCount", {}).get("CappedCount") == 1,
          lambda: f"DescribeComplianceByResource of the bucket: {short(by_res)}")

    step("StartConfigRulesEvaluation re-invokes the evaluator")
    before = len(events(args.tokens, "deferred-external"))
    check(call("StartConfigRulesEvaluation", ConfigRuleNames=["deferred-external", "pick-cel"]) == {}, "StartConfigRulesEvaluation answers {}")
    error_table([("StartConfigRulesEvaluation twice a minute", "StartConfigRulesEvaluation", {"ConfigRuleNames": ["pick-cel"]}, "LimitExceededException")])
    evs = wait_for("a new invocation after StartConfigRulesEvaluation", 20,
                   lambda: (lambda e: e if len(e) > before else (None, f"{len(e)} invocations"))(events(args.tokens, "deferred-external")))
    check_event(evs[-1], d_desc, BUCKET, bucket0, {"purpose": "deferred"})
    call("PutEvaluations", ResultToken=evs[-1]["resultToken"], Evaluations=[evaluation("COMPLIANT")])
    wait_for("the bucket COMPLIANT through the new token", 15, lambda: deferred_is("COMPLIANT"))
    c = compliance_by_rule(["deferred-external"])["deferred-external"]
    check(c.get("ComplianceType") == "COMPLIANT", lambda: f"deferred-external: {c}")
    by_res = call("DescribeComplianceByResource", ResourceType=BUCKET, ResourceId=bucket0)["ComplianceByResources"]
    check(len(by_res) == 1 and by_res[0]["Compliance"].get("ComplianceType") == "COMPLIANT",
          lambda: f"DescribeComplianceByResource of the bucket: {short(by_res)}")
    summary["deferredInvocations"] = len(events(args.tokens, "deferred-external"))

    step("DescribeComplianceByConfigRule: every rule, the summary of its results")
    every = compliance_by_rule()
    check(set(every) == set(by_name), lambda: f"DescribeComplianceByConfigRule lists {sorted(set(every) ^ set(by_name))} wrongly")
    quiet = {r["ConfigRuleName"] for r in catalog_rules()} | {f"bulk-{i:02}" for i in range(8)} | {"broken-cel", "broken-external"}
    for name in sorted(quiet):
        check(every[name].get("ComplianceType") == "INSUFFICIENT_DATA", lambda: f"{name}: {every[name]}")
    check(every["pick-cel"] == {"ComplianceType": "NON_COMPLIANT", "ComplianceContributorCount": {"CappedCount": 1, "CapExceeded": False}},
          lambda: f"pick-cel: {every['pick-cel']}")
    check(every["tagged-cel"].get("ComplianceType") == "COMPLIANT", lambda: f"tagged-cel: {every['tagged-cel']}")
    for name in judged:
        wait_for(f"{name}'s summary agreeing with its results", 20, lambda: rule_compliance_agrees(name))
    insufficient = compliance_by_rule(ComplianceTypes=["INSUFFICIENT_DATA"])
    check(quiet <= set(insufficient) and not {"pick-cel", "tagged-cel"} & set(insufficient),
          lambda: f"ComplianceTypes INSUFFICIENT_DATA: {sorted(insufficient)}")
    compliant = compliance_by_rule(ComplianceTypes=["COMPLIANT"])
    check({"tagged-cel", "deferred-external"} <= set(compliant) and "pick-cel" not in compliant
          and all(c.get("ComplianceType") == "COMPLIANT" for c in compliant.values()),
          lambda: f"ComplianceTypes COMPLIANT: {short(compliant)}")
    bad = compliance_by_rule(ComplianceTypes=["NON_COMPLIANT"])
    check("pick-cel" in bad and not quiet & set(bad) and all(c.get("ComplianceType") == "NON_COMPLIANT" for c in bad.values()),
          lambda: f"ComplianceTypes NON_COMPLIANT: {short(bad)}")

    step("DescribeComplianceByResource and GetComplianceDetailsByResource")
    listed, sizes = paginate("DescribeComplianceByResource", "ComplianceByResources", 5, ResourceType=SG)
    rids = [c["ResourceId"] for c in listed]
    check(len(rids) == len(set(rids)) and set(rids) == ids, lambda: f"by resource: {len(rids)} entries, {sorted(set(rids) ^ ids)} wrong")
    check(max(sizes) <= 5 and len(sizes) >= -(-len(ids) // 5), lambda: f"Limit 5 page sizes {sizes}")
    check(all(c["ResourceType"] == SG for c in listed), "by resource: every entry a security group")
    check(all(c["Compliance"].get("ComplianceType") in ("COMPLIANT", "NON_COMPLIANT") for c in listed),
          lambda: f"by resource: {short([c['Compliance'] for c in listed])}")

    def details(rid):
        items, _ = paginate("GetComplianceDetailsByResource", "EvaluationResults", ResourceType=SG, ResourceId=rid)
        out = {}
        for r in items:
            q = r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
            check((q["ResourceType"], q["ResourceId"]) == (SG, rid), lambda: f"details of {rid}: a result for {q}")
            check(q["ConfigRuleName"] not in out, lambda: f"details of {rid}: two results of {q['ConfigRuleName']}")
            out[q["ConfigRuleName"]] = r["ComplianceType"]
        return out

    def sg0_agrees():
        d1 = details(sg0)
        c = call("DescribeComplianceByResource", ResourceType=SG, ResourceId=sg0)["ComplianceByResources"]
        d2 = details(sg0)
        if d1 != d2:
            return None, "results changed while reading"
        check(len(c) == 1 and c[0]["ResourceId"] == sg0, lambda: f"DescribeComplianceByResource of {sg0}: {short(c)}")
        violated = sum(1 for t in d2.values() if t == "NON_COMPLIANT")
        want = {"ComplianceType": "NON_COMPLIANT", "ComplianceContributorCount": {"CappedCount": violated, "CapExceeded": False}}
        if c[0]["Compliance"] != want:
            return None, f"{c[0]['Compliance']} while its results are {d2}"
        return d2

    d = wait_for(f"{sg0}'s compliance agreeing with its results", 20, sg0_agrees)
    expect = {"ssh-managed", "https-managed", "ssh-cel", "pick-cel", "tagged-cel", "ssh-external"}
    check(expect <= set(d), lambda: f"results of {sg0}: {d}, expected one from each of {sorted(expect)}")
    check(not set(d) & (quiet | {"deferred-external"}), lambda: f"results of {sg0} from rules that judge nothing there: {d}")
    check(d["pick-cel"] == "NON_COMPLIANT" and d["tagged-cel"] == "COMPLIANT", lambda: f"results of {sg0}: {d}")
    nc, _ = paginate("GetComplianceDetailsByResource", "EvaluationResults", ResourceType=SG, ResourceId=sg0, ComplianceTypes=["NON_COMPLIANT"])
    check(nc and all(r["ComplianceType"] == "NON_COMPLIANT" for r in nc)
          and "pick-cel" in {r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ConfigRuleName"] for r in nc},
          lambda: f"ComplianceTypes NON_COMPLIANT of {sg0}: {short(nc)}")
    nc, _ = paginate("DescribeComplianceByResource", "ComplianceByResources", 5, ResourceType=SG, ComplianceTypes=["NON_COMPLIANT"])
    check(sg0 in {c["ResourceId"] for c in nc} and all(c["Compliance"]["ComplianceType"] == "NON_COMPLIANT" for c in nc),
          lambda: f"by resource, NON_COMPLIANT: {short(nc)}")
    ok, _ = paginate("DescribeComplianceByResource", "ComplianceByResources", 5, ResourceType=SG, ComplianceTypes=["COMPLIANT"])
    check(sg0 not in {c["ResourceId"] for c in ok} and all(c["Compliance"]["ComplianceType"] == "COMPLIANT" for c in ok),
          lambda: f"by resource, COMPLIANT: {short(ok)}")

    step("an updated rule is evaluated again")
    moved = dict(by_name["pick-cel"], InputParameters=json.dumps({"target": sg1}))
    moved.pop("ConfigRuleId")
    moved.pop("ConfigRuleArn")
    call("PutConfigRule", ConfigRule=moved)

    def retargeted():
        res = results("pick-cel")
        bad = {k for k, r in res.items() if r["ComplianceType"] == "NON_COMPLIANT"}
        return (bad == {sg1} and len(res) == len(ids)) or (None, sorted(bad))

    wait_for("pick-cel's verdicts to follow its new target", 30, retargeted)
    check(call("DescribeConfigRules", ConfigRuleNames=["pick-cel"])["ConfigRules"][0]["ConfigRuleId"] == desc["pick-cel"]["ConfigRuleId"],
          "the ConfigRuleId survives the update")

    step("ComplianceContributorCount capped at 100")
    counts = call("GetDiscoveredResourceCounts")["resourceCounts"]
    ec2 = {c["resourceType"]: c["count"] for c in counts if c["resourceType"].startswith("AWS::EC2::")}
    check(sum(ec2.values()) > 110, lambda: f"more than 110 EC2 resources needed for the cap, the estate has {ec2}")
    call("PutConfigRule", ConfigRule=rule("all-false", cel("false"), {"ComplianceResourceTypes": sorted(ec2)}))

    def capped():
        c = compliance_by_rule(["all-false"])["all-false"]
        if c.get("ComplianceContributorCount") == {"CappedCount": 100, "CapExceeded": True}:
            return c
        return None, c

    c = wait_for("all-false NON_COMPLIANT with CappedCount 100, CapExceeded", 45, capped)
    check(c.get("ComplianceType") == "NON_COMPLIANT", lambda: f"all-false: {c}")
    items, sizes = paginate("GetComplianceDetailsByConfigRule", "EvaluationResults", 100, ConfigRuleName="all-false")
    keys = [(r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceType"],
             r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"]) for r in items]
    check(len(keys) > 100 and len(keys) == len(set(keys)) and len(sizes) >= 2 and max(sizes) <= 100,
          lambda: f"all-false: {len(keys)} results ({len(set(keys))} distinct) in pages {sizes}")
    check(all(t in ec2 for t, _ in keys) and all(r["ComplianceType"] == "NON_COMPLIANT" for r in items),
          "all-false: NON_COMPLIANT EC2 resources only")
    summary["cappedRuleResults"] = len(keys)

    step("DeleteConfigRule: the rule and its results vanish")
    for r in call("DescribeConfigRules", ConfigRuleNames=["ssh-external"])["ConfigRules"]:
        check(all(d.get("EventSource") == "aws.config" for d in r["Source"]["SourceDetails"]),
              lambda: f"SourceDetails answered without EventSource aws.config: {r['Source']['SourceDetails']}")
    for name in ["ssh-managed", "all-false"] + sorted(quiet - {"broken-cel", "broken-external"}):
        check(call("DeleteConfigRule", ConfigRuleName=name) == {}, "DeleteConfigRule answers {}")
    gone = {"ssh-managed", "all-false"} | (quiet - {"broken-cel", "broken-external"})
    left = set(by_name) - gone

    def vanished():
        problems = []
        e = error_of("DescribeConfigRules", {"ConfigRuleNames": ["ssh-managed"]})
        if not e or e[0] != NO_RULE:
            problems.append(f"DescribeConfigRules ssh-managed: {e or 'found'}")
        e = error_of("GetComplianceDetailsByConfigRule", {"ConfigRuleName": "ssh-managed"})
        if not e or e[0] != NO_RULE:
            problems.append(f"GetComplianceDetailsByConfigRule ssh-managed: {e or 'answered'}")
        names = set(describe_all()[0])
        if names != left:
            problems.append(f"DescribeConfigRules lists {sorted(names ^ left)} wrongly")
        by_rule = set(compliance_by_rule())
        if by_rule != left:
            problems.append(f"DescribeComplianceByConfigRule lists {sorted(by_rule ^ left)} wrongly")
        st = set(statuses()[0])
        if st != left:
            problems.append(f"DescribeConfigRuleEvaluationStatus lists {sorted(st ^ left)} wrongly")
        d = details(sg0)
        if "ssh-managed" in d or "all-false" in d:
            problems.append(f"results of {sg0} still from deleted rules: {d}")
        return not problems or (None, problems)

    # Until its results have ended a deleted rule is listed DELETING; deleting or putting it
    # again meanwhile is ResourceInUseException (AWS's asynchronous deletion).
    for r in call("DescribeConfigRules")["ConfigRules"]:
        if r["ConfigRuleName"] in gone:
            check(r.get("ConfigRuleState") == "DELETING", lambda: f"{r['ConfigRuleName']} listed {r.get('ConfigRuleState')} after its deletion")
            e = error_of("DeleteConfigRule", {"ConfigRuleName": r["ConfigRuleName"]})
            check(e is not None and e[0] in ("ResourceInUseException", NO_RULE),
                  lambda: f"DeleteConfigRule of a deleting rule: {e}")
    wait_for("the deleted rules to vanish", 30, vanished)
    error_table([("DeleteConfigRule twice", "DeleteConfigRule", {"ConfigRuleName": "ssh-managed"}, NO_RULE)])

    summary.update(ok=True, errorCases=ERROR_CASES[0], rulesLeft=len(left), seconds=round(time.monotonic() - started, 1))
    return summary


def main():
    global CLIENT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", required=True, help="directory where the deferred evaluator saves its events")
    ap.add_argument("--immediate", default="ssh-open")
    ap.add_argument("--deferred", default="deferred")
    ap.add_argument("--failing", default="broken")
    args = ap.parse_args()
    CLIENT = boto3.client(
        "config",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_CONFIG"],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    try:
        summary = run(args)
    except Failure as e:
        log(f"FAIL [{STEP[0]}]: {e}")
        sys.exit(1)
    print(json.dumps(summary))


main()
