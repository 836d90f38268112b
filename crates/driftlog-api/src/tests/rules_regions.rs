//! Rules live in the account and region they were put in, as AWS's do: a rule put by a
//! caller of us-east-1 judges us-east-1's resources (and global ones), is invisible to a
//! caller of eu-west-1, and its results are those of its region only. Driven through
//! `ConfigApi::call` on the simulated estate (two regions, two accounts) with the real
//! recorder and rules engine.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use crate::{ApiResult, ApiSettings, Auth, Caller, ConfigApi, Initial, Input, NoDelivery};
use driftlog_compliance::{Engine, EngineSettings};
use driftlog_log::{Log, LogOptions};
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimConfig};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SG: &str = "AWS::EC2::SecurityGroup";

fn caller(region: &str) -> Caller {
    Caller {
        access_key: Some("AKIDTEST".into()),
        region: Some(region.into()),
        account: None,
    }
}

async fn call(api: &ConfigApi, who: &Caller, op: &str, body: Value) -> ApiResult<Value> {
    api.call(who, op, &Input::parse(body.to_string().as_bytes()).unwrap())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_judges_and_shows_in_its_own_region() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path().join("store"), LogOptions::default()).unwrap());
    let sim = SimSource::from_estate(Estate::new(SimConfig {
        resources: 400,
        ..SimConfig::default()
    }));
    let source: Arc<dyn Source> = Arc::new(sim.clone());
    let rec = Recorder::new(log.clone(), source, RecorderConfig::default());
    rec.poll_all_once().await.unwrap();
    let api = ConfigApi::open(
        log.clone(),
        Some(rec.clone()),
        Arc::new(NoDelivery),
        ApiSettings {
            auth: Auth::Off,
            account: "111122220001".into(),
            region: "us-east-1".into(),
        },
        Initial::default(),
    )
    .unwrap();
    let engine = Engine::open(log.clone(), Some(rec.clone()), EngineSettings::default()).unwrap();
    api.set_rules(engine.clone());
    let (stop, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(engine.clone().run(rx));

    let east = caller("us-east-1");
    let west = caller("eu-west-1");
    // The recorder must exist for rules to be put.
    call(&api, &east, "PutConfigurationRecorder", json!({"ConfigurationRecorder": {"name": "default", "roleARN": "arn:aws:iam::111122220001:role/config"}})).await.unwrap();
    call(&api, &east, "PutConfigRule", json!({"ConfigRule": {"ConfigRuleName": "ssh",
        "Scope": {"ComplianceResourceTypes": [SG]}, "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}}))
        .await
        .unwrap();
    let d = call(&api, &east, "DescribeConfigRules", json!({}))
        .await
        .unwrap();
    assert!(d["ConfigRules"][0]["ConfigRuleArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:config:us-east-1:"));
    // Invisible from the other region.
    assert_eq!(
        call(&api, &west, "DescribeConfigRules", json!({}))
            .await
            .unwrap()["ConfigRules"],
        json!([])
    );
    for (op, body) in [
        ("DescribeConfigRules", json!({"ConfigRuleNames": ["ssh"]})),
        (
            "GetComplianceDetailsByConfigRule",
            json!({"ConfigRuleName": "ssh"}),
        ),
        ("DeleteConfigRule", json!({"ConfigRuleName": "ssh"})),
    ] {
        assert_eq!(
            call(&api, &west, op, body).await.unwrap_err().code,
            "NoSuchConfigRuleException",
            "{op}"
        );
    }

    // Its results are exactly the us-east-1 security groups the caller lists.
    let east_sgs = listed_sgs(&api, &east).await;
    assert!(!east_sgs.is_empty());
    assert_eq!(
        judged_by(&api, &east, "ssh", east_sgs.len()).await,
        east_sgs
    );

    // The same name put in eu-west-1 is a rule of its own there (AWS's names are unique
    // per region; one rule is commonly deployed to every region): each region's rule judges
    // its region's groups, and deleting one leaves the other.
    call(&api, &west, "PutConfigRule", json!({"ConfigRule": {"ConfigRuleName": "ssh",
        "Scope": {"ComplianceResourceTypes": [SG]}, "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}}))
        .await
        .unwrap();
    let rule_of = |d: Value| d["ConfigRules"][0].clone();
    let e = rule_of(
        call(
            &api,
            &east,
            "DescribeConfigRules",
            json!({"ConfigRuleNames": ["ssh"]}),
        )
        .await
        .unwrap(),
    );
    let w = rule_of(
        call(
            &api,
            &west,
            "DescribeConfigRules",
            json!({"ConfigRuleNames": ["ssh"]}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(e["ConfigRuleName"], "ssh");
    assert_eq!(w["ConfigRuleName"], "ssh");
    assert!(w["ConfigRuleArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:config:eu-west-1:"));
    assert!(e["ConfigRuleArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:config:us-east-1:"));
    assert_ne!(e["ConfigRuleId"], w["ConfigRuleId"]);
    let west_sgs = listed_sgs(&api, &west).await;
    assert!(!west_sgs.is_empty() && west_sgs.is_disjoint(&east_sgs));
    assert_eq!(
        judged_by(&api, &west, "ssh", west_sgs.len()).await,
        west_sgs
    );
    assert_eq!(
        judged_by(&api, &east, "ssh", east_sgs.len()).await,
        east_sgs
    );
    let status = call(
        &api,
        &west,
        "DescribeConfigRuleEvaluationStatus",
        json!({"ConfigRuleNames": ["ssh"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        status["ConfigRulesEvaluationStatus"][0]["ConfigRuleArn"],
        w["ConfigRuleArn"]
    );
    let by_rule = call(&api, &west, "DescribeComplianceByConfigRule", json!({}))
        .await
        .unwrap();
    assert_eq!(
        by_rule["ComplianceByConfigRules"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        by_rule["ComplianceByConfigRules"][0]["ConfigRuleName"],
        "ssh"
    );

    // An existing rule is named by its ARN alone, as PutConfigRule allows.
    call(
        &api,
        &east,
        "PutConfigRule",
        json!({"ConfigRule": {"ConfigRuleArn": e["ConfigRuleArn"],
        "Description": "named by its ARN", "Scope": {"ComplianceResourceTypes": [SG]},
        "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}}),
    )
    .await
    .unwrap();
    let e2 = rule_of(
        call(
            &api,
            &east,
            "DescribeConfigRules",
            json!({"ConfigRuleNames": ["ssh"]}),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        (&e2["ConfigRuleId"], &e2["Description"]),
        (&e["ConfigRuleId"], &json!("named by its ARN"))
    );
    // A name spelling the other region's key does not reach its rule.
    assert_eq!(
        call(
            &api,
            &east,
            "PutConfigRule",
            json!({"ConfigRule": {"ConfigRuleName": "ssh@eu-west-1",
            "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}})
        )
        .await
        .unwrap_err()
        .code,
        "InvalidParameterValueException"
    );

    // A rule of the CLI judges every region; each region's caller is told of its own.
    engine
        .put_rule(
            &json!({"ConfigRuleName": "cli-ssh", "Scope": {"ComplianceResourceTypes": [SG]},
            "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}),
        )
        .unwrap();
    assert_eq!(
        judged_by(&api, &east, "cli-ssh", east_sgs.len()).await,
        east_sgs
    );
    assert_eq!(
        judged_by(&api, &west, "cli-ssh", west_sgs.len()).await,
        west_sgs
    );
    let counted = |v: &Value| {
        let c = &v["ComplianceByConfigRules"][0]["Compliance"];
        c["ComplianceType"].clone()
    };
    let east_count = call(
        &api,
        &east,
        "DescribeComplianceByConfigRule",
        json!({"ConfigRuleNames": ["cli-ssh"]}),
    )
    .await
    .unwrap();
    assert!(counted(&east_count).is_string());
    let all = engine.counts("cli-ssh");
    let mine = engine.counts_where("cli-ssh", |_, r| r == "us-east-1" || r == "global");
    assert_eq!(
        (mine.compliant + mine.non_compliant) as usize,
        east_sgs.len()
    );
    assert!(all.compliant + all.non_compliant > mine.compliant + mine.non_compliant);
    let west_one = west_sgs.iter().next().unwrap();
    let r = call(
        &api,
        &east,
        "GetComplianceDetailsByResource",
        json!({"ResourceType": SG, "ResourceId": west_one}),
    )
    .await
    .unwrap();
    assert_eq!(r["EvaluationResults"], json!([]));
    let r = call(
        &api,
        &west,
        "GetComplianceDetailsByResource",
        json!({"ResourceType": SG, "ResourceId": west_one}),
    )
    .await
    .unwrap();
    assert_eq!(r["EvaluationResults"].as_array().unwrap().len(), 2, "{r}");

    // The server-wide rule's name is taken in every region; the server's own region
    // updates it in place, server-wide still.
    let cli_rule = json!({"ConfigRule": {"ConfigRuleName": "cli-ssh", "Description": "updated",
        "Scope": {"ComplianceResourceTypes": [SG]}, "Source": {"Owner": "AWS", "SourceIdentifier": "INCOMING_SSH_DISABLED"}}});
    assert_eq!(
        call(&api, &west, "PutConfigRule", cli_rule.clone())
            .await
            .unwrap_err()
            .code,
        "InvalidParameterValueException"
    );
    call(&api, &east, "PutConfigRule", cli_rule).await.unwrap();
    let wide = engine.rule("cli-ssh").unwrap();
    assert_eq!(wide.rule.scope.region, None);
    assert_eq!(wide.api["Description"], "updated");
    assert_eq!(
        judged_by(&api, &west, "cli-ssh", west_sgs.len()).await,
        west_sgs
    );

    // Another region's caller cannot delete the server-wide rule for every region; the
    // server's own region can.
    assert_eq!(
        call(
            &api,
            &west,
            "DeleteConfigRule",
            json!({"ConfigRuleName": "cli-ssh"})
        )
        .await
        .unwrap_err()
        .code,
        "InvalidParameterValueException"
    );
    assert!(engine.rule("cli-ssh").is_some());
    call(
        &api,
        &east,
        "DeleteConfigRule",
        json!({"ConfigRuleName": "cli-ssh"}),
    )
    .await
    .unwrap();

    // A rule of one region judging global resources (IAM) records their compliance in
    // its region, as AWS does.
    call(&api, &west, "PutConfigRule", json!({"ConfigRule": {"ConfigRuleName": "roles",
        "Scope": {"ComplianceResourceTypes": ["AWS::IAM::Role"]},
        "Source": {"Owner": "CUSTOM_POLICY", "SourceDetails": [{"MessageType": "ConfigurationItemChangeNotification"}],
                   "CustomPolicyDetails": {"PolicyRuntime": "cel", "PolicyText": "true"}}}}))
        .await
        .unwrap();
    let roles = sim.estate().keys_of_type("AWS::IAM::Role").len();
    assert!(roles > 0);
    assert_eq!(judged_by(&api, &west, "roles", roles).await.len(), roles);
    let compliance_ids = |who: Caller| {
        let api = &api;
        async move {
            let page = call(api, &who, "ListDiscoveredResources",
                json!({"resourceType": "AWS::Config::ResourceCompliance", "limit": 100, "includeDeletedResources": false}))
                .await
                .unwrap();
            page["resourceIdentifiers"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r["resourceId"].as_str().map(str::to_string))
                .filter(|id| id.starts_with("roles@"))
                .count()
        }
    };
    assert!(compliance_ids(west.clone()).await > 0);
    assert_eq!(compliance_ids(east.clone()).await, 0);
    call(
        &api,
        &west,
        "DeleteConfigRule",
        json!({"ConfigRuleName": "ssh"}),
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    while call(
        &api,
        &west,
        "DescribeConfigRules",
        json!({"ConfigRuleNames": ["ssh"]}),
    )
    .await
    .is_ok()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "west's rule never vanished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rule_of(
            call(
                &api,
                &east,
                "DescribeConfigRules",
                json!({"ConfigRuleNames": ["ssh"]})
            )
            .await
            .unwrap()
        )["ConfigRuleId"],
        e["ConfigRuleId"]
    );
    assert_eq!(
        judged_by(&api, &east, "ssh", east_sgs.len()).await,
        east_sgs
    );

    // By resource: an eu-west-1 group has no result for the east caller's rules.
    let west_sg = sim
        .estate()
        .keys_of_type(SG)
        .into_iter()
        .find(|k| k.region == "eu-west-1")
        .unwrap();
    let r = call(
        &api,
        &east,
        "GetComplianceDetailsByResource",
        json!({"ResourceType": SG, "ResourceId": west_sg.resource_id}),
    )
    .await
    .unwrap();
    assert_eq!(r["EvaluationResults"], json!([]));
    stop.send(true).unwrap();
    run.await.unwrap().unwrap();
}

/// Every item of every page of `op`: `items` of each answer, pages chained by `token`.
async fn all_pages(
    api: &ConfigApi,
    who: &Caller,
    op: &str,
    mut body: Value,
    token: &str,
    items: &str,
) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = call(api, who, op, body.clone()).await.unwrap();
        out.extend(page[items].as_array().unwrap().iter().cloned());
        match page[token].as_str() {
            Some(t) => body[token] = json!(t),
            None => return out,
        }
    }
}

/// The security groups ListDiscoveredResources lists for the caller.
async fn listed_sgs(api: &ConfigApi, who: &Caller) -> BTreeSet<String> {
    let body = json!({"resourceType": SG, "limit": 100});
    all_pages(
        api,
        who,
        "ListDiscoveredResources",
        body,
        "nextToken",
        "resourceIdentifiers",
    )
    .await
    .iter()
    .map(|r| r["resourceId"].as_str().unwrap().to_string())
    .collect()
}

/// The resources the caller's rule `name` has results for, once it has `want` of them (or
/// after 30 s); every result names the rule as put.
async fn judged_by(api: &ConfigApi, who: &Caller, name: &str, want: usize) -> BTreeSet<String> {
    let t0 = Instant::now();
    loop {
        let body = json!({"ConfigRuleName": name, "Limit": 100});
        let results = all_pages(
            api,
            who,
            "GetComplianceDetailsByConfigRule",
            body,
            "NextToken",
            "EvaluationResults",
        )
        .await;
        let judged: BTreeSet<String> = results
            .iter()
            .map(|r| {
                let q = &r["EvaluationResultIdentifier"]["EvaluationResultQualifier"];
                assert_eq!(q["ConfigRuleName"], name);
                q["ResourceId"].as_str().unwrap().to_string()
            })
            .collect();
        if judged.len() >= want || t0.elapsed() > Duration::from_secs(30) {
            return judged;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
