//! Rules live in the account and region they were put in, as AWS's do: a rule put by a
//! caller of us-east-1 judges us-east-1's resources (and global ones), is invisible to a
//! caller of eu-west-1, and its results are those of its region only. Driven through
//! `ConfigApi::call` on the simulated estate (two regions, two accounts) with the real
//! recorder and rules engine.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_api::{
    ApiResult, ApiSettings, Auth, Caller, ChannelDef, ConfigApi, DeliveryControl, Initial, Input,
};
use driftlog_compliance::{Engine, EngineSettings};
use driftlog_log::{Log, LogOptions};
use driftlog_poll::{SimSource, Source};
use driftlog_recorder::{Recorder, RecorderConfig};
use driftlog_sim::{Estate, SimConfig};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct NoDelivery;

#[async_trait::async_trait]
impl DeliveryControl for NoDelivery {
    fn channel(&self) -> Option<Arc<driftlog_sinks::DeliveryChannel>> {
        None
    }
    fn sinks(&self) -> Vec<driftlog_sinks::SinkStatus> {
        Vec::new()
    }
    async fn apply(&self, _def: Option<ChannelDef>) -> ApiResult<()> {
        Ok(())
    }
}

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
    let mut listed = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"resourceType": SG, "limit": 100});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = call(&api, &east, "ListDiscoveredResources", body)
            .await
            .unwrap();
        for r in page["resourceIdentifiers"].as_array().unwrap() {
            listed.insert(r["resourceId"].as_str().unwrap().to_string());
        }
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert!(!listed.is_empty());
    let t0 = Instant::now();
    let judged = loop {
        let mut judged = BTreeSet::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"ConfigRuleName": "ssh", "Limit": 100});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let page = call(&api, &east, "GetComplianceDetailsByConfigRule", body)
                .await
                .unwrap();
            for r in page["EvaluationResults"].as_array().unwrap() {
                judged.insert(
                    r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            match page["NextToken"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        if judged.len() >= listed.len() || t0.elapsed() > Duration::from_secs(30) {
            break judged;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(judged, listed);
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
