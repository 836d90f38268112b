//! The AWS Config rules and compliance API of `driftlog serve`, driven by the real boto3
//! `config` client (tests/aws/rules_api.py, with the virtualenv `scripts/test.sh` installs)
//! with SigV4 required, on the simulated estate. Managed, CEL and external rules; the
//! external evaluators are commands declared as `[[evaluators]]` and written here: one
//! answers at once, one answers nothing and lets the script report through PutEvaluations
//! with the event's result token, one always fails. Every rules and compliance operation's
//! happy path and named errors (exact `__type`), the paginators, and the verdicts checked
//! against the security groups' configurations as they change. A second test
//! (tests/aws/rules_wave2.py) puts issue 15's nineteen managed rules and checks one verdict
//! of each on the simulated estate.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::cli as cli_support;
use crate::support::moto as moto_support;
use crate::support::server as server_support;
use cli_support::json_lines;
use moto_support::{repo, venv_bin};

const KEY: &str = "AKIDRIFTLOGTEST0001";
const SECRET: &str = "driftlog-test-secret";
const REGION: &str = "us-east-1";

/// The evaluators' names: a CUSTOM_LAMBDA rule's `SourceIdentifier` is
/// `arn:aws:lambda:<region>:<account>:function:<name>`.
const IMMEDIATE: &str = "ssh-open";
const DEFERRED: &str = "deferred";
const FAILING: &str = "broken";

/// Answers at once: NON_COMPLIANT when the security group opens `ruleParameters.port` (22)
/// to 0.0.0.0/0, COMPLIANT otherwise; nothing for a scheduled run.
const SSH_OPEN_PY: &str = r#"import json
import sys

event = json.load(sys.stdin)
invoking = json.loads(event["invokingEvent"])
item = invoking.get("configurationItem")
if not item:
    print("{}")
    sys.exit(0)
port = int(json.loads(event.get("ruleParameters") or "{}").get("port", 22))
evaluation = {
    "ComplianceResourceType": item["resourceType"],
    "ComplianceResourceId": item["resourceId"],
    "OrderingTimestamp": item["configurationItemCaptureTime"],
}
status = item.get("configurationItemStatus") or ""
if event.get("eventLeftScope") or status.startswith("ResourceDeleted"):
    evaluation["ComplianceType"] = "NOT_APPLICABLE"
    print(json.dumps({"evaluations": [evaluation]}))
    sys.exit(0)
conf = item.get("configuration")
if not isinstance(conf, dict):
    sys.exit("the configuration item's configuration is not an object: %.200r" % (conf,))


def covers(p):
    proto = str(p.get("ipProtocol", "-1")).lower()
    if proto == "-1":
        return True
    return proto in ("tcp", "6") and p.get("fromPort", 0) <= port <= p.get("toPort", 65535)


def world(p):
    return any(r.get("cidrIp") == "0.0.0.0/0" for r in p.get("ipv4Ranges") or [])


if any(world(p) and covers(p) for p in conf.get("ipPermissions") or []):
    evaluation["ComplianceType"] = "NON_COMPLIANT"
    evaluation["Annotation"] = "port %d is open to 0.0.0.0/0" % port
else:
    evaluation["ComplianceType"] = "COMPLIANT"
print(json.dumps({"evaluations": [evaluation]}))
"#;

/// Saves the whole event (its `resultToken` with it) as a new file of the directory in
/// argv[1], written atomically, and answers nothing: results come through PutEvaluations.
const SAVE_TOKEN_PY: &str = r#"import json
import os
import sys
import time

event = json.load(sys.stdin)
name = "%d-%d.json" % (time.time_ns(), os.getpid())
tmp = os.path.join(sys.argv[1], "." + name)
with open(tmp, "w") as f:
    json.dump(event, f)
os.replace(tmp, os.path.join(sys.argv[1], name))
"#;

/// Always fails (exit status 1, a reason on stderr).
const BROKEN_PY: &str = r#"import sys

sys.stdin.read()
sys.exit("this evaluator always fails")
"#;

/// The virtualenv's python; `None` (with a loud note) only when it is missing and not in
/// CI: with `CI=true` a missing virtualenv is a failure, never a skip.
fn venv_python() -> Option<PathBuf> {
    let python = venv_bin("python");
    if python.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the virtualenv's python (boto3) not found: run ./scripts/test.sh, which installs it");
        }
        eprintln!("SKIPPED: the virtualenv's python (boto3) is not installed; ./scripts/test.sh installs it");
    }
    python
}

/// A TOML basic string (JSON's escapes are TOML's).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The configuration file, the evaluator scripts it declares, and the directory where the
/// deferred evaluator saves its events. One account and one region, the caller's: every
/// recorded security group is one the script reads through the API and expects verdicts
/// for. 300 resources with 5% churn a second: security groups open and close port 22 to
/// the world within the test, and more than 100 EC2 resources for the contributor cap.
fn config(dir: &Path, python: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let script = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let python = python.to_string_lossy().into_owned();
    let evaluators = [
        (
            IMMEDIATE,
            vec![python.clone(), script("ssh_open.py", SSH_OPEN_PY)],
        ),
        (
            DEFERRED,
            vec![
                python.clone(),
                script("save_token.py", SAVE_TOKEN_PY),
                tokens.to_string_lossy().into_owned(),
            ],
        ),
        (FAILING, vec![python, script("broken.py", BROKEN_PY)]),
    ]
    .iter()
    .map(|(name, argv)| {
        format!(
            "[[evaluators]]\nname = {}\ncommand = [{}]\ntimeout = \"10s\"\n",
            toml_str(name),
            argv.iter()
                .map(|a| toml_str(a))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
    .collect::<Vec<_>>()
    .join("\n");
    let cfg = dir.join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = {data}
[source.sim]
accounts = 1
regions = ["us-east-1"]
resources = 300
churn = 0.05
tick_interval = "1s"
[recorder]
interval = "1s"
[delivery]
snapshot_frequency = "off"
[api]
listen = "127.0.0.1:0"
auth = "sigv4"
access_keys = [{{ access_key_id = "{KEY}", secret_access_key = "{SECRET}" }}]

{evaluators}"#,
            data = toml_str(&data.to_string_lossy()),
        ),
    )
    .unwrap();
    (cfg, tokens)
}

/// `driftlog audit --json --operation op` against the running server's data.
fn audit(cfg: &Path, op: &str) -> Vec<Value> {
    json_lines(
        &Command::new(env!("CARGO_BIN_EXE_driftlog"))
            .args(["audit", "--json", "--limit", "1000", "--operation", op])
            .arg("--config")
            .arg(cfg)
            .output()
            .unwrap(),
    )
}

#[test]
fn boto3_drives_rules_and_compliance_with_managed_cel_and_external_evaluators() {
    let Some(python) = venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cfg, tokens) = config(dir.path(), &python);
    let server = server_support::start(&cfg);
    let port = server.port;
    let t = Instant::now();
    let out = Command::new(&python)
        .arg(repo().join("tests/aws/rules_api.py"))
        .arg("--tokens")
        .arg(&tokens)
        .args([
            "--immediate",
            IMMEDIATE,
            "--deferred",
            DEFERRED,
            "--failing",
            FAILING,
        ])
        .env(
            "AWS_ENDPOINT_URL_CONFIG",
            format!("http://127.0.0.1:{port}"),
        )
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "rules_api.py failed after {:?}:\n{progress}",
        t.elapsed()
    );
    eprint!("{progress}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value =
        serde_json::from_str(stdout.lines().last().expect("a JSON summary line")).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert!(summary["rules"].as_u64().unwrap() > 25, "{summary}");
    assert!(summary["errorCases"].as_u64().unwrap() >= 40, "{summary}");
    assert!(
        summary["sshOpenJudged"].is_string() && summary["httpsOpenJudged"].is_string(),
        "verdicts checked on open security groups: {summary}"
    );
    assert!(
        summary["cappedRuleResults"].as_u64().unwrap() > 100,
        "{summary}"
    );

    // The deferred evaluator ran as a command, given AWS's event each time.
    let saved = std::fs::read_dir(&tokens)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.ends_with(".json") && !n.starts_with('.')
        })
        .count() as u64;
    assert!(
        saved >= summary["deferredInvocations"].as_u64().unwrap() && saved >= 2,
        "{saved} events saved; {summary}"
    );

    // The aws CLI drives the same operations.
    let aws = venv_bin("aws").expect("the aws CLI in the virtualenv (scripts/test.sh installs it)");
    let cli = |args: &[&str]| -> Value {
        let out = Command::new(&aws)
            .args([
                "configservice",
                "--output",
                "json",
                "--endpoint-url",
                &format!("http://127.0.0.1:{port}"),
                "--region",
                REGION,
            ])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws configservice {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    };
    cli(&[
        "put-config-rule",
        "--config-rule",
        r#"{"ConfigRuleName": "cli-ssh", "Scope": {"ComplianceResourceTypes": ["AWS::EC2::SecurityGroup"]}, "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}"#,
    ]);
    let described = cli(&["describe-config-rules", "--config-rule-names", "cli-ssh"]);
    assert_eq!(
        described["ConfigRules"][0]["ConfigRuleState"], "ACTIVE",
        "{described}"
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let details = cli(&[
            "get-compliance-details-by-config-rule",
            "--config-rule-name",
            "cli-ssh",
        ]);
        if details["EvaluationResults"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no results for cli-ssh: {details}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let by_rule = cli(&[
        "describe-compliance-by-config-rule",
        "--config-rule-names",
        "cli-ssh",
    ]);
    let c = by_rule["ComplianceByConfigRules"][0]["Compliance"]["ComplianceType"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(c == "COMPLIANT" || c == "NON_COMPLIANT", "{by_rule}");
    let status = cli(&[
        "describe-config-rule-evaluation-status",
        "--config-rule-names",
        "cli-ssh",
    ]);
    assert_eq!(
        status["ConfigRulesEvaluationStatus"][0]["ConfigRuleName"], "cli-ssh",
        "{status}"
    );
    cli(&["delete-config-rule", "--config-rule-name", "cli-ssh"]);

    // The rules calls are on the audit trail, refused ones with their code.
    let puts = audit(&cfg, "PutEvaluations");
    assert!(
        puts.iter()
            .any(|c| c["errorCode"] == "InvalidResultTokenException"),
        "the forged token on the trail: {puts:?}"
    );
    assert!(
        puts.iter()
            .any(|c| c["errorCode"].is_null() && c["readOnly"] == false),
        "an accepted PutEvaluations on the trail"
    );
    let rules = audit(&cfg, "PutConfigRule");
    assert!(rules
        .iter()
        .any(|c| c["errorCode"] == "InsufficientPermissionsException"));
    assert!(rules
        .iter()
        .any(|c| c["errorCode"] == "InvalidParameterValueException"));
}

/// Issue 15's managed rules whose simulated estate (seed 42, no churn) holds both verdicts:
/// the generators build a share of violating resources of each type — DB instances public
/// one in ten, manual snapshots restorable by all one in eight, KMS data keys without
/// rotation one in four, tables without PITR, topics without a KMS key one in three,
/// queues unencrypted one in four, repositories without scan-on-push, public EKS endpoints,
/// secrets without rotation one in three, alarms without an action one in ten, VPCs
/// without their flow log (20 of 30), EIPs left unattached.
const WAVE2_BOTH: &[&str] = &[
    "RDS_INSTANCE_PUBLIC_ACCESS_CHECK",
    "RDS_SNAPSHOTS_PUBLIC_PROHIBITED",
    "CMK_BACKING_KEY_ROTATION_ENABLED",
    "DYNAMODB_PITR_ENABLED",
    "SNS_ENCRYPTED_KMS",
    "SQS_QUEUE_ENCRYPTED",
    "ECR_PRIVATE_IMAGE_SCANNING_ENABLED",
    "EKS_ENDPOINT_NO_PUBLIC_ACCESS",
    "SECRETSMANAGER_ROTATION_ENABLED_CHECK",
    "CLOUDWATCH_ALARM_ACTION_CHECK",
    "VPC_FLOW_LOGS_ENABLED",
    "EIP_ATTACHED",
];

/// Those whose generators build compliant resources only (only churn makes violations):
/// function policies grant services, DB storage is always encrypted, keys are enabled, the
/// trail is encrypted with log file validation, every load balancer's HTTP listener
/// redirects to HTTPS.
const WAVE2_COMPLIANT: &[&str] = &[
    "LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED",
    "RDS_STORAGE_ENCRYPTED",
    "KMS_CMK_NOT_SCHEDULED_FOR_DELETION",
    "CLOUD_TRAIL_ENCRYPTION_ENABLED",
    "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED",
    "ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK",
];

/// One end-to-end verdict through boto3 for each of issue 15's nineteen managed rules
/// (tests/aws/rules_wave2.py): put as AWS defines them on an estate of 2,500 resources in
/// one account and region without churn, the periodic ones run again on demand; each judges
/// exactly the recorded resources of its type(s), both verdicts where the generators build
/// both, COMPLIANT only where they build no violation, the account's multi-region trail
/// verdict from its trail's configuration, and DescribeComplianceByConfigRule agreeing.
#[test]
fn boto3_judges_the_estate_with_each_wave2_managed_rule() {
    let Some(python) = venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("driftlog.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"data_dir = {data}
[source.sim]
seed = 42
accounts = 1
regions = ["{REGION}"]
resources = 2500
churn = 0.0
tick_interval = "1s"
[recorder]
interval = "1s"
[delivery]
snapshot_frequency = "off"
[api]
listen = "127.0.0.1:0"
auth = "sigv4"
access_keys = [{{ access_key_id = "{KEY}", secret_access_key = "{SECRET}" }}]
"#,
            data = toml_str(&dir.path().join("data").to_string_lossy()),
        ),
    )
    .unwrap();
    let server = server_support::start(&cfg);
    let t = Instant::now();
    let out = Command::new(&python)
        .arg(repo().join("tests/aws/rules_wave2.py"))
        .args(["--both", &WAVE2_BOTH.join(",")])
        .args(["--compliant", &WAVE2_COMPLIANT.join(",")])
        .args(["--timeout", "90"])
        .env("AWS_ENDPOINT_URL_CONFIG", &server.url)
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "rules_wave2.py failed after {:?}:\n{progress}",
        t.elapsed()
    );
    eprint!("{progress}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value =
        serde_json::from_str(stdout.lines().last().expect("a JSON summary line")).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["rules"], 19, "{summary}");
    let mut both = WAVE2_BOTH.to_vec();
    both.sort_unstable();
    assert_eq!(
        summary["both"],
        serde_json::json!(both),
        "exactly these rules hold both verdicts: {summary}"
    );
    let per_rule = summary["perRule"].as_object().unwrap();
    assert_eq!(per_rule.len(), 19, "{summary}");
    for (rule, counts) in per_rule {
        let n = |t: &str| counts[t].as_u64().unwrap();
        assert!(
            n("COMPLIANT") + n("NON_COMPLIANT") + n("NOT_APPLICABLE") > 0,
            "{rule} judged nothing: {summary}"
        );
    }
    assert!(
        summary["totals"]["COMPLIANT"].as_u64().unwrap() > 0
            && summary["totals"]["NON_COMPLIANT"].as_u64().unwrap() > 0,
        "{summary}"
    );
}
