"""One end-to-end verdict through boto3 for each of the nineteen managed rules of issue 15,
against `driftlog serve` on the simulated estate (no churn: the estate the seed builds).

    rules_wave2.py --both RULE[,...] --compliant RULE[,...] [--timeout SECS]

Each rule is put with the real boto3 `config` client as AWS defines it (change-triggered ones
scoped with Scope.ComplianceResourceTypes, periodic ones with MaximumExecutionFrequency, the
account-level MULTI_REGION_CLOUD_TRAIL_ENABLED without a scope), the periodic ones are run
again with StartConfigRulesEvaluation, and then, through GetComplianceDetailsByConfigRule
(every page):
  * each rule judged exactly the recorded resources of its own type(s) (the account itself
    for MULTI_REGION_CLOUD_TRAIL_ENABLED), each once;
  * the rules named in --both have COMPLIANT and NON_COMPLIANT results, those named in
    --compliant COMPLIANT ones only; across all nineteen both occur;
  * MULTI_REGION_CLOUD_TRAIL_ENABLED's verdict on the account is what the trail's recorded
    configuration (BatchGetResourceConfig) says;
  * DescribeComplianceByConfigRule says what the results say (NON_COMPLIANT with the count of
    non-compliant resources, else COMPLIANT, else INSUFFICIENT_DATA), and filters by it.
Environment, as rules_api.py: AWS_ENDPOINT_URL_CONFIG (driftlog), AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
Progress goes to stderr; the last stdout line is a JSON summary (per rule: its counts of
COMPLIANT, NON_COMPLIANT and NOT_APPLICABLE results). The first failure ends the script with
exit status 1 and says what and where.
"""
import argparse
import json
import os
import re
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

ACCOUNT_TYPE = "AWS::::Account"
FREQ = "TwentyFour_Hours"
TYPES = ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE")

# (identifier, resource types, periodic, parameters): AWS's trigger types and scopes.
# Change-triggered rules are scoped to their types; periodic ones run every FREQ over theirs.
RULES = [
    ("LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED", ["AWS::Lambda::Function"], False, None),
    ("RDS_INSTANCE_PUBLIC_ACCESS_CHECK", ["AWS::RDS::DBInstance"], False, None),
    ("RDS_STORAGE_ENCRYPTED", ["AWS::RDS::DBInstance"], False, None),
    ("RDS_SNAPSHOTS_PUBLIC_PROHIBITED", ["AWS::RDS::DBSnapshot", "AWS::RDS::DBClusterSnapshot"], False, None),
    ("CMK_BACKING_KEY_ROTATION_ENABLED", ["AWS::KMS::Key"], True, None),
    ("KMS_CMK_NOT_SCHEDULED_FOR_DELETION", ["AWS::KMS::Key"], False, None),
    ("CLOUD_TRAIL_ENCRYPTION_ENABLED", ["AWS::CloudTrail::Trail"], True, None),
    ("CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED", ["AWS::CloudTrail::Trail"], True, None),
    ("MULTI_REGION_CLOUD_TRAIL_ENABLED", [ACCOUNT_TYPE], True, None),
    ("ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK", ["AWS::ElasticLoadBalancingV2::LoadBalancer"], True, None),
    ("DYNAMODB_PITR_ENABLED", ["AWS::DynamoDB::Table"], False, None),
    ("SNS_ENCRYPTED_KMS", ["AWS::SNS::Topic"], False, None),
    ("SQS_QUEUE_ENCRYPTED", ["AWS::SQS::Queue"], False, None),
    ("ECR_PRIVATE_IMAGE_SCANNING_ENABLED", ["AWS::ECR::Repository"], True, None),
    ("EKS_ENDPOINT_NO_PUBLIC_ACCESS", ["AWS::EKS::Cluster"], True, None),
    ("SECRETSMANAGER_ROTATION_ENABLED_CHECK", ["AWS::SecretsManager::Secret"], False,
     {"maximumAllowedRotationFrequency": "90"}),
    ("CLOUDWATCH_ALARM_ACTION_CHECK", ["AWS::CloudWatch::Alarm"], False,
     {"alarmActionRequired": "true", "insufficientDataActionRequired": "false", "okActionRequired": "false"}),
    ("VPC_FLOW_LOGS_ENABLED", ["AWS::EC2::VPC"], True, {"trafficType": "ALL"}),
    ("EIP_ATTACHED", ["AWS::EC2::EIP"], False, None),
]

CLIENT = None
STEP = ["start"]


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


def short(v, n=400):
    s = json.dumps(v, default=str)
    return s if len(s) <= n else s[:n] + "..."


def call(op, **params):
    try:
        r = getattr(CLIENT, snake(op))(**params)
    except ClientError as e:
        err = e.response.get("Error", {})
        raise Failure(f"{op} {short(params)} failed: {err.get('Code')}: {err.get('Message')}")
    r.pop("ResponseMetadata", None)
    return r


def paginate(op, key, page_size=None, **params):
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


def name_of(ident):
    return "wave2-" + ident.lower().replace("_", "-")


def rule_def(ident, types, periodic, params):
    r = {"ConfigRuleName": name_of(ident), "Description": f"issue 15: {ident}",
         "Source": {"Owner": "AWS", "SourceIdentifier": ident}}
    if periodic:
        r["MaximumExecutionFrequency"] = FREQ
    if types != [ACCOUNT_TYPE]:
        # AWS scopes change-triggered managed rules to their types; its periodic ones carry
        # the same scope in the console. The account-level rule has none.
        r["Scope"] = {"ComplianceResourceTypes": types}
    if params is not None:
        r["InputParameters"] = json.dumps(params)
    return r


def results(name):
    """Every result of the rule, all three compliance types, page by page (Limit 25 so that
    the larger rules take several pages): {(type, id): ComplianceType}."""
    items, sizes = paginate("GetComplianceDetailsByConfigRule", "EvaluationResults", 25,
                            ConfigRuleName=name, ComplianceTypes=list(TYPES))
    check(all(s <= 25 for s in sizes), lambda: f"{name}: page sizes {sizes} beyond Limit 25")
    out = {}
    for r in items:
        q = r.get("EvaluationResultIdentifier", {}).get("EvaluationResultQualifier", {})
        check(q.get("ConfigRuleName") == name, lambda: f"{name}: a result of rule {q.get('ConfigRuleName')!r}")
        check(r.get("ComplianceType") in TYPES, lambda: f"{name}: ComplianceType {r.get('ComplianceType')!r}")
        key = (q.get("ResourceType"), q.get("ResourceId"))
        check(key not in out, lambda: f"{name}: {key} listed twice")
        out[key] = r["ComplianceType"]
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


def expected_summary(res):
    nc = sum(1 for t in res.values() if t == "NON_COMPLIANT")
    if nc:
        return {"ComplianceType": "NON_COMPLIANT",
                "ComplianceContributorCount": {"CappedCount": min(nc, 100), "CapExceeded": nc > 100}}
    if "COMPLIANT" in res.values():
        return {"ComplianceType": "COMPLIANT"}
    return {"ComplianceType": "INSUFFICIENT_DATA"}


def run(args):
    started = time.monotonic()
    both = set(filter(None, args.both.split(",")))
    compliant = set(filter(None, args.compliant.split(",")))
    known = {i for i, *_ in RULES}
    check(both | compliant <= known, lambda: f"--both or --compliant names unknown rules: {sorted((both | compliant) - known)}")
    check(not both & compliant, lambda: f"both --both and --compliant: {sorted(both & compliant)}")

    step("the estate: every type the rules judge, recorded")
    wanted = sorted({t for _, ts, _, _ in RULES for t in ts} - {ACCOUNT_TYPE, "AWS::RDS::DBClusterSnapshot"})

    def recorded():
        counts = {c["resourceType"]: c["count"] for c in call("GetDiscoveredResourceCounts")["resourceCounts"]}
        missing = [t for t in wanted if not counts.get(t)]
        return (not missing and counts) or (None, f"none yet of {missing}")

    first = wait_for("the simulated estate's service types", args.timeout, recorded, 1)
    # No churn: once recorded the estate stays as it is; two equal counts a second apart.
    time.sleep(1)
    again = recorded()
    check(again == first, lambda: f"the estate still changes: {short(first)} then {short(again)}")
    inventory = {}
    for t in wanted + ["AWS::RDS::DBClusterSnapshot"]:
        ids, _ = paginate("ListDiscoveredResources", "resourceIdentifiers", resourceType=t)
        inventory[t] = {(t, r["resourceId"]) for r in ids}
        check(len(inventory[t]) == first.get(t, 0),
              lambda: f"{t}: ListDiscoveredResources lists {len(inventory[t])}, GetDiscoveredResourceCounts says {first.get(t, 0)}")
    rows, _ = paginate("SelectResourceConfig", "Results",
                       Expression="SELECT accountId WHERE resourceType = 'AWS::SQS::Queue'")
    accounts = {json.loads(r)["accountId"] for r in rows}
    check(len(accounts) == 1, lambda: f"one account expected, SelectResourceConfig says {accounts}")
    account = accounts.pop()
    inventory[ACCOUNT_TYPE] = {(ACCOUNT_TYPE, account)}
    log(f"   {short({t: len(v) for t, v in inventory.items()}, 1000)}")

    step("PutConfigRule: the nineteen managed rules as AWS defines them")
    defs = {name_of(i): rule_def(i, ts, p, params) for i, ts, p, params in RULES}
    for d in defs.values():
        check(call("PutConfigRule", ConfigRule=d) == {}, "PutConfigRule answers {}")
    described, _ = paginate("DescribeConfigRules", "ConfigRules", ConfigRuleNames=sorted(defs))
    got = {r["ConfigRuleName"]: r for r in described}
    check(set(got) == set(defs), lambda: f"DescribeConfigRules lists {sorted(set(got) ^ set(defs))} wrongly")
    for name, d in defs.items():
        r = got[name]
        check(r.get("ConfigRuleState") == "ACTIVE", lambda: f"{name}: ConfigRuleState {r.get('ConfigRuleState')!r}")
        check(r["Source"].get("Owner") == "AWS" and r["Source"].get("SourceIdentifier") == d["Source"]["SourceIdentifier"],
              lambda: f"{name}: Source {short(r['Source'])}")
        check(r.get("Scope", {}).get("ComplianceResourceTypes", []) == d.get("Scope", {}).get("ComplianceResourceTypes", []),
              lambda: f"{name}: Scope {short(r.get('Scope'))}, put {short(d.get('Scope'))}")
        check(r.get("MaximumExecutionFrequency") == d.get("MaximumExecutionFrequency"),
              lambda: f"{name}: MaximumExecutionFrequency {r.get('MaximumExecutionFrequency')!r}, put {d.get('MaximumExecutionFrequency')!r}")
        if "InputParameters" in d:
            check(json.loads(r.get("InputParameters") or "{}") == json.loads(d["InputParameters"]),
                  lambda: f"{name}: InputParameters {r.get('InputParameters')!r}")

    def expected(ident):
        types = next(ts for i, ts, _, _ in RULES if i == ident)
        return set().union(*(inventory[t] for t in types))

    def all_judged():
        """Every rule has judged exactly the resources of its types, each once."""
        wrong = []
        for ident, *_ in RULES:
            res = results(name_of(ident))
            want = expected(ident)
            if set(res) != want:
                extra = sorted(set(res) - want)[:3]
                wrong.append(f"{ident}: {len(res)} results for {len(want)} resources"
                             + (f", e.g. not of its type(s) or not recorded: {extra}" if extra else ""))
        return not wrong or (None, "; ".join(wrong))

    step("every rule judges the recorded resources of its own type(s)")
    wait_for("every rule's results (put rules are evaluated over the inventory)", args.timeout, all_judged, 1)

    step("StartConfigRulesEvaluation: the periodic rules on demand")
    periodic = [name_of(i) for i, _, p, _ in RULES if p]
    st, _ = paginate("DescribeConfigRuleEvaluationStatus", "ConfigRulesEvaluationStatus", ConfigRuleNames=periodic)
    before = {s["ConfigRuleName"]: s.get("LastSuccessfulEvaluationTime") for s in st}
    check(set(before) == set(periodic) and all(before.values()),
          lambda: f"the periodic rules' LastSuccessfulEvaluationTime after their first run: {short(before)}")
    time.sleep(1.1)  # the status has whole seconds: a new run must be visibly later

    def started_ok():
        try:
            r = CLIENT.start_config_rules_evaluation(ConfigRuleNames=periodic)
        except ClientError as e:
            err = e.response["Error"]
            # A rule still in its first run is busy (LimitExceededException): try again.
            if err.get("Code") == "LimitExceededException":
                return None, f"{err.get('Code')}: {err.get('Message')}"
            raise Failure(f"StartConfigRulesEvaluation failed: {err.get('Code')}: {err.get('Message')}")
        r.pop("ResponseMetadata", None)
        check(r == {}, lambda: f"StartConfigRulesEvaluation answered {short(r)}")
        return True

    wait_for("StartConfigRulesEvaluation accepted", args.timeout, started_ok, 2)

    def rerun():
        st, _ = paginate("DescribeConfigRuleEvaluationStatus", "ConfigRulesEvaluationStatus", ConfigRuleNames=periodic)
        stale = [s["ConfigRuleName"] for s in st
                 if not s.get("LastSuccessfulEvaluationTime") or s["LastSuccessfulEvaluationTime"] <= before[s["ConfigRuleName"]]]
        failed = [(s["ConfigRuleName"], s.get("LastErrorCode"), s.get("LastErrorMessage")) for s in st if s.get("LastErrorCode")]
        check(not failed, lambda: f"periodic rules failed: {failed}")
        return not stale or (None, f"not evaluated again yet: {stale}")

    wait_for("the periodic rules' on-demand run to finish", args.timeout, rerun, 1)
    wait_for("every rule's results after the on-demand run", args.timeout, all_judged, 1)

    step("the verdicts: COMPLIANT and NON_COMPLIANT where the estate holds both")
    per_rule = {}
    for ident, *_ in RULES:
        res = results(name_of(ident))
        per_rule[ident] = {t: sum(1 for v in res.values() if v == t) for t in TYPES}
    log("   " + "\n   ".join(f"{i}: {c}" for i, c in per_rule.items()))
    lacking = [f"{i}: {per_rule[i]}" for i in sorted(both)
               if not (per_rule[i]["COMPLIANT"] and per_rule[i]["NON_COMPLIANT"])]
    check(not lacking, lambda: "rules whose estate holds both states lack one of them:\n  " + "\n  ".join(lacking))
    wrong = [f"{i}: {per_rule[i]}" for i in sorted(compliant)
             if per_rule[i]["NON_COMPLIANT"] or per_rule[i]["NOT_APPLICABLE"] or not per_rule[i]["COMPLIANT"]]
    check(not wrong, lambda: "rules whose estate is compliant throughout judged otherwise:\n  " + "\n  ".join(wrong))
    trails = [k[1] for k in inventory["AWS::CloudTrail::Trail"]]
    items = call("BatchGetResourceConfig", resourceKeys=[{"resourceType": "AWS::CloudTrail::Trail", "resourceId": t}
                                                         for t in trails])["baseConfigurationItems"]
    check(len(items) == len(trails), lambda: f"BatchGetResourceConfig of the trails: {len(items)} of {len(trails)}")

    def covering(item):
        c = json.loads(item["configuration"])
        status = json.loads(item.get("supplementaryConfiguration", {}).get("TrailStatus") or "{}")
        return c.get("isMultiRegionTrail") is True and status.get("isLogging", True) is not False

    trail_verdict = "COMPLIANT" if any(covering(i) for i in items) else "NON_COMPLIANT"
    got = results(name_of("MULTI_REGION_CLOUD_TRAIL_ENABLED"))
    check(got == {(ACCOUNT_TYPE, account): trail_verdict},
          lambda: f"MULTI_REGION_CLOUD_TRAIL_ENABLED: {got}, the trails ({trails}) say {trail_verdict} for {account}")
    total = {t: sum(c[t] for c in per_rule.values()) for t in TYPES}
    check(total["COMPLIANT"] and total["NON_COMPLIANT"], lambda: f"across the nineteen rules: {total}")

    step("DescribeComplianceByConfigRule agrees with the details")
    names = sorted(defs)
    summaries = compliance_by_rule(names)
    check(set(summaries) == set(names), lambda: f"DescribeComplianceByConfigRule lists {sorted(set(summaries) ^ set(names))} wrongly")
    wrong = []
    for ident, *_ in RULES:
        name = name_of(ident)
        want = expected_summary(results(name))
        if summaries[name] != want:
            wrong.append(f"{ident}: {summaries[name]}, its results say {want}")
    check(not wrong, lambda: "summaries disagree with the results:\n  " + "\n  ".join(wrong))
    for ctype in ("COMPLIANT", "NON_COMPLIANT", "INSUFFICIENT_DATA"):
        filtered = compliance_by_rule(names, ComplianceTypes=[ctype])
        want = {n for n in names if summaries[n]["ComplianceType"] == ctype}
        check(set(filtered) == want, lambda: f"ComplianceTypes {ctype}: {sorted(filtered)}, expected {sorted(want)}")

    return {"ok": True, "rules": len(RULES), "both": sorted(i for i, c in per_rule.items() if c["COMPLIANT"] and c["NON_COMPLIANT"]),
            "multiRegionTrail": trail_verdict,
            "perRule": per_rule, "totals": total, "seconds": round(time.monotonic() - started, 1)}


def main():
    global CLIENT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--both", default="", help="rules whose estate holds both COMPLIANT and NON_COMPLIANT resources")
    ap.add_argument("--compliant", default="", help="rules whose estate holds COMPLIANT resources only")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds each wait may take")
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


if __name__ == "__main__":
    main()
