//! Issue 3 through the `driftlog` binary: `serve` on `[source] kind = "aws"` against moto
//! (boto3 changes the estate), `status`, `history`, `refresh`, and an unreachable EC2
//! endpoint that deletes nothing and shows its error.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use crate::support::moto as support;

use crate::support::cli as cli_support;

use cli_support::{json_lines, KillOnDrop};
use driftlog_model::time::now_ms;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{estate, estate_as, free_port, moto, moto_with_env, CREDENTIALS};

fn driftlog(cfg: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_driftlog"));
    c.envs(CREDENTIALS.iter().copied())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("DRIFTLOG_CONFIG", cfg);
    c
}

fn config(dir: &Path, name: &str, endpoints: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "data_dir = {:?}\n[source]\nkind = \"aws\"\n[source.aws]\nregions = [\"us-east-1\"]\nmax_attempts = 2\ncall_timeout = \"10s\"\n[source.aws.endpoints]\n{endpoints}\n[recorder]\ninterval = \"1h\"\n",
            dir.join("data")
        ),
    )
    .unwrap();
    p
}

fn run(cfg: &Path, args: &[&str]) -> Output {
    driftlog(cfg)
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap()
}

/// Waits until every scope has been polled (successfully or not) since `since_ms`; the
/// status of an earlier run is kept in the store, so older attempts do not count.
fn wait_polled(cfg: &Path, since_ms: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = run(cfg, &["status", "--json"]);
        if out.status.success() {
            let v = json_lines(&out).remove(0);
            let scopes = v["scopes"].as_array().cloned().unwrap_or_default();
            if scopes.len() == driftlog_aws::supported_types().len()
                && scopes.iter().all(|s| finished_since(s, since_ms))
            {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "serve never polled every scope");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// True when the scope's last attempt started after `since_ms` and has ended: it succeeded
/// (success time after the attempt) or failed (a failure counted). The status shows an
/// attempt as soon as it starts, while its outcome is still the previous run's.
fn finished_since(s: &Value, since_ms: i64) -> bool {
    let Some(attempt) = s["lastAttemptMs"].as_i64().filter(|t| *t >= since_ms) else {
        return false;
    };
    s["lastSuccessMs"].as_i64().is_some_and(|t| t >= attempt)
        || s["consecutiveFailures"].as_u64().is_some_and(|n| n >= 1)
}

fn serve(cfg: &Path) -> KillOnDrop {
    KillOnDrop(
        driftlog(cfg)
            .args(["serve", "--quiet", "--config"])
            .arg(cfg)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn issue_3_serve_records_moto_refresh_and_unreachable_endpoint() {
    let Some(m) = moto() else { return };
    let e = estate(&m, &["setup"]);
    let dir = tempfile::tempdir().unwrap();
    let good = config(dir.path(), "good.toml", &format!("all = {:?}", m.url));

    let t0 = now_ms();
    let mut server = serve(&good);
    let status = wait_polled(&good, t0);
    for sc in status["scopes"].as_array().unwrap() {
        assert!(sc["lastErrorCode"].is_null(), "{sc}");
        let global = sc["resourceType"]
            .as_str()
            .unwrap()
            .starts_with("AWS::IAM::");
        assert_eq!(sc["region"], if global { "global" } else { "us-east-1" });
    }
    let web = e["web_sg"].as_str().unwrap();
    let sg = format!("AWS::EC2::SecurityGroup/{web}");
    let h = json_lines(&run(&good, &["history", &sg, "--json"]));
    assert_eq!(h.len(), 1);

    // The schedule is hourly: only a targeted refresh records the new rule now.
    estate(&m, &["open-ssh", web]);
    let out = run(&good, &["refresh", &sg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = json_lines(&run(&good, &["history", &sg, "--json"]));
    assert_eq!(h.len(), 2, "{h:?}");
    let text = serde_json::to_string(&h).unwrap();
    assert!(text.contains("Configuration.IpPermissions"), "{text}");

    // A group created since the last poll: refreshed by its full key, it is discovered.
    let created = estate(&m, &["create-sg", "late-sg", e["vpc"].as_str().unwrap()]);
    let late = created["group"].as_str().unwrap();
    let full = format!("123456789012/us-east-1/AWS::EC2::SecurityGroup/{late}");
    let out = run(&good, &["refresh", &full]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = json_lines(&run(&good, &["history", &full, "--json"]));
    assert_eq!(h.len(), 1, "{h:?}");
    // By TYPE/ID alone an unknown resource is refused with what to give instead.
    let out = run(
        &good,
        &["refresh", "AWS::EC2::SecurityGroup/sg-00000000000000000"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ACCOUNT/REGION/TYPE/ID"));

    // Restart with EC2 unreachable: EC2 scopes show the error, nothing is deleted, the
    // other services still record.
    let _ = server.0.kill();
    let _ = server.0.wait();
    let closed = free_port();
    let broken = config(
        dir.path(),
        "broken.toml",
        &format!("all = {:?}\nec2 = \"http://127.0.0.1:{closed}\"", m.url),
    );
    estate(&m, &["put-bucket-policy", "example-logs"]);
    let t1 = now_ms();
    server = serve(&broken);
    let status = wait_polled(&broken, t1);
    for sc in status["scopes"].as_array().unwrap() {
        let t = sc["resourceType"].as_str().unwrap();
        if t.starts_with("AWS::EC2::") {
            assert_eq!(sc["lastErrorCode"], "EndpointConnectionError", "{sc}");
        } else {
            assert!(sc["lastErrorCode"].is_null(), "{sc}");
        }
    }
    let text = String::from_utf8_lossy(&run(&broken, &["status"]).stdout).to_string();
    assert!(text.contains("EndpointConnectionError"), "{text}");
    let h = json_lines(&run(&broken, &["history", &sg, "--json"]));
    assert_eq!(h.len(), 2, "no deletion: {h:?}");
    let b = json_lines(&run(
        &broken,
        &["history", "AWS::S3::Bucket/example-logs", "--json"],
    ));
    assert_eq!(b.len(), 2, "S3 still records: {b:?}");
    drop(server);
}

/// Issue 15's "done": one moto account built with boto3 holding every hand-shaped type (the
/// first wave's estate, the data services and the edge services) is recorded whole by
/// `serve`, and `at now` lists every type the AWS source supports, each scope without error.
#[test]
fn issue_15_one_moto_account_lists_every_hand_shaped_type_at_now() {
    let Some(m) = support::moto_with_unique_db_ids() else {
        return;
    };
    estate(&m, &["setup"]);
    support::run_script(&m, "estate_data.py", &["setup"]);
    support::run_script(&m, "estate_edge.py", &["setup"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "all.toml", &format!("all = {:?}", m.url));

    let t0 = now_ms();
    let server = serve(&cfg);
    let status = wait_polled(&cfg, t0);
    for sc in status["scopes"].as_array().unwrap() {
        assert!(sc["lastErrorCode"].is_null(), "{sc}");
    }
    let at = json_lines(&run(&cfg, &["at", "now", "--json"])).remove(0);
    let listed: Vec<&str> = at["counts"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, n)| n.as_u64().unwrap() > 0)
        .map(|(t, _)| t.as_str())
        .collect();
    let mut supported = driftlog_aws::supported_types();
    supported.sort_unstable();
    assert!(supported.len() >= 34, "{supported:?}");
    assert_eq!(listed, supported, "{at}");
    drop(server);
}

/// moto checks IAM permissions after its first 6 requests: the recorder runs as a user
/// allowed EC2 and S3 reads only, so the IAM scopes fail with AccessDenied while the others
/// record.
#[test]
fn issue_3_access_denied_on_iam_is_that_scopes_status_only() {
    let Some(m) = moto_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "6")]) else {
        return;
    };
    let keys = estate(&m, &["auth-setup"]);
    let admin = (
        keys["admin"]["key"].as_str().unwrap(),
        keys["admin"]["secret"].as_str().unwrap(),
    );
    let e = estate_as(&m, admin, &["setup"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "reader.toml", &format!("all = {:?}", m.url));
    let t0 = now_ms();
    let _server = KillOnDrop(
        driftlog(&cfg)
            .env("AWS_ACCESS_KEY_ID", keys["reader"]["key"].as_str().unwrap())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                keys["reader"]["secret"].as_str().unwrap(),
            )
            .args(["serve", "--quiet", "--config"])
            .arg(&cfg)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let status = wait_polled(&cfg, t0);
    // The reader may call EC2 and S3 only: every other service's scopes say why they
    // record nothing (moto answers most with AccessDenied, EKS's signed REST calls with
    // SignatureDoesNotMatch), and EC2 and S3 record.
    for sc in status["scopes"].as_array().unwrap() {
        let t = sc["resourceType"].as_str().unwrap();
        if t.starts_with("AWS::EC2::") || t.starts_with("AWS::S3::") {
            assert!(sc["lastErrorCode"].is_null(), "{sc}");
        } else if t.starts_with("AWS::IAM::") {
            assert_eq!(sc["lastErrorCode"], "AccessDenied", "{sc}");
            let msg = sc["lastErrorMessage"].as_str().unwrap();
            assert!(msg.contains("iam:GetAccountAuthorizationDetails"), "{msg}");
        } else {
            assert!(sc["lastErrorCode"].is_string(), "{sc}");
            assert!(sc["lastSuccessMs"].is_null(), "{sc}");
        }
    }
    let text = String::from_utf8_lossy(&run(&cfg, &["status"]).stdout).to_string();
    assert!(text.contains("AccessDenied"), "{text}");
    let web = e["web_sg"].as_str().unwrap();
    let h = json_lines(&run(
        &cfg,
        &[
            "history",
            &format!("AWS::EC2::SecurityGroup/{web}"),
            "--json",
        ],
    ));
    assert_eq!(h.len(), 1, "EC2 records while IAM is denied");
}

/// No config file: `--source aws --region ... --endpoint-url ...`, or the SDK's own
/// AWS_ENDPOINT_URL in the environment (S3 then path-style too).
#[test]
fn issue_3_serve_from_flags_or_the_sdk_environment() {
    let Some(m) = moto() else { return };
    estate(&m, &["setup"]);
    let dir = tempfile::tempdir().unwrap();
    for (name, flags, env) in [
        ("flags", vec!["--endpoint-url", m.url.as_str()], None),
        ("env", vec![], Some(m.url.as_str())),
    ] {
        let data = dir.path().join(name);
        // A config naming only the data dir, so `status` finds the same store.
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, format!("data_dir = {data:?}\n")).unwrap();
        let t0 = now_ms();
        let mut cmd = driftlog(&cfg);
        cmd.args([
            "serve",
            "--quiet",
            "--source",
            "aws",
            "--region",
            "us-east-1",
        ])
        .args(&flags)
        .arg("--config")
        .arg(&cfg)
        .stderr(Stdio::null());
        if let Some(url) = env {
            cmd.env("AWS_ENDPOINT_URL", url);
        }
        let _server = KillOnDrop(cmd.spawn().unwrap());
        let status = wait_polled(&cfg, t0);
        for sc in status["scopes"].as_array().unwrap() {
            assert!(sc["lastErrorCode"].is_null(), "{name}: {sc}");
        }
        let b = json_lines(&run(
            &cfg,
            &["history", "AWS::S3::Bucket/example-logs", "--json"],
        ));
        assert_eq!(b.len(), 1, "{name}: the bucket is recorded");
    }
}

#[test]
fn issue_3_bad_aws_settings_are_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[source]\nkind = \"aws\"\n[source.aws.endpoints]\nec2 = \"127.0.0.1:5000\"\n",
    )
    .unwrap();
    let out = run(&cfg, &["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("source.aws.endpoints.ec2"), "{err}");
    let printed = Command::new(env!("CARGO_BIN_EXE_driftlog"))
        .arg("config")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&printed.stdout);
    for key in [
        "[source.aws]",
        "assume_roles",
        "rate_limits",
        "max_attempts",
        "endpoints",
    ] {
        assert!(text.contains(key), "`driftlog config` documents {key}");
    }
}

/// Issue 13.5: a start without credentials prints driftlog's own error, naming every place
/// the credential chain looked — not the SDK's multi-line WARN dump, which `-v` still shows.
#[test]
fn issue_13_missing_credentials_name_where_driftlog_looked_without_the_sdks_dump() {
    let dir = tempfile::tempdir().unwrap();
    let run = |verbose: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_driftlog"));
        c.env_clear()
            .env("HOME", dir.path())
            .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.path().join("no-credentials"),
            )
            // Off EC2 the metadata service cannot answer; do not wait for its timeouts.
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
            .args([
                "serve",
                "--source",
                "aws",
                "--region",
                "us-east-1",
                "--listen",
                "off",
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"));
        if verbose {
            c.arg("-v");
        }
        c.output().unwrap()
    };
    let out = run(false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for place in [
        "environment",
        "profile",
        "SSO",
        "IMDS",
        "no AWS credentials were found",
    ] {
        assert!(err.contains(place), "names {place}: {err}");
    }
    assert!(
        !err.contains("WARN") && !err.contains("ProviderError"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "one error line: {err}"
    );
    let verbose = run(true);
    let err = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        err.contains("WARN") && err.contains("aws_"),
        "-v shows the SDK's own steps: {err}"
    );
}

/// The history item (event JSON) of `resource` that CloudTrail event `event_id` explained,
/// once recorded.
fn item_of_event(cfg: &Path, resource: &str, event_id: &str, within_secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(within_secs);
    loop {
        let h = json_lines(&run(cfg, &["history", resource, "--json"]));
        if let Some(i) = h.into_iter().find(|i| {
            i["changedBy"]
                .as_array()
                .is_some_and(|a| a.iter().any(|b| b["eventId"] == event_id))
        }) {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "no item of {resource} explained by event {event_id} within {within_secs} s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn events_status(cfg: &Path) -> Value {
    json_lines(&run(cfg, &["status", "--json"])).remove(0)["events"].clone()
}

/// Issue 16 on moto: CloudTrail events through an EventBridge rule into SQS, and a log file
/// announced by the trail bucket's S3 notification, record changes within seconds with who
/// made them while the poll interval is an hour; an event ahead of its change, a deletion,
/// a burst, a poison message and a kill -9 each behave.
#[test]
fn issue_16_cloudtrail_events_record_changes_within_seconds_with_who_made_them() {
    let Some(m) = moto() else { return };
    let e = estate(&m, &["setup"]);
    let q = support::run_script(&m, "events.py", &["setup"]);
    let vpc = e["vpc"].as_str().unwrap();
    let burst = support::run_script(&m, "events.py", &["make-sgs", "50", vpc]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "events.toml", &format!("all = {:?}", m.url));
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "[source.aws.events]\nqueue_urls = [{:?}]\ncloudtrail_bucket_queue = {:?}\nwait_seconds = 1\n",
        q["queue"].as_str().unwrap(),
        q["trail_queue"].as_str().unwrap()
    ));
    std::fs::write(&cfg, text).unwrap();
    let ev = |args: &[&str]| support::run_script(&m, "events.py", args);

    let t0 = now_ms();
    let mut server = serve(&cfg);
    wait_polled(&cfg, t0);
    let web = e["web_sg"].as_str().unwrap();
    let web_ref = format!("AWS::EC2::SecurityGroup/{web}");

    // A group opened to the world through the API: recorded within seconds, saying who.
    estate(&m, &["open-ssh", web]);
    let opened = ev(&["event", "AuthorizeSecurityGroupIngress", web]);
    let id = opened["event_id"].as_str().unwrap();
    let item = item_of_event(&cfg, &web_ref, id, 20);
    let who = &item["changedBy"][0];
    assert_eq!(who["principal"], "arn:aws:iam::123456789012:role/deploy");
    assert_eq!(who["sessionName"], "ci-run-481");
    assert_eq!(who["eventName"], "AuthorizeSecurityGroupIngress");
    assert_eq!(who["sourceIp"], "203.0.113.7");
    assert_eq!(
        item["configurationItem"]["relatedEvents"],
        serde_json::json!([id])
    );
    assert!(
        item["configurationItemDiff"]["changedProperties"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("Configuration.IpPermissions")),
        "{item}"
    );
    let history = String::from_utf8(run(&cfg, &["history", &web_ref]).stdout).unwrap();
    assert!(
        history.contains("by arn:aws:iam::123456789012:role/deploy (session ci-run-481) via AuthorizeSecurityGroupIngress from 203.0.113.7"),
        "{history}"
    );
    assert!(
        history.contains("found by periodic examination"),
        "{history}"
    );

    // The event arrives before its change is visible: recorded after a retry.
    let early = ev(&["event", "RevokeSecurityGroupIngress", web]);
    std::thread::sleep(Duration::from_millis(1_500));
    ev(&["revoke-ssh", web]);
    item_of_event(&cfg, &web_ref, early["event_id"].as_str().unwrap(), 30);

    // A deletion, recorded from its event without waiting for a poll.
    let spare = e["spare_sg"].as_str().unwrap();
    let spare_ref = format!("AWS::EC2::SecurityGroup/{spare}");
    estate(&m, &["delete-sg", spare]);
    let deleted = ev(&["event", "DeleteSecurityGroup", spare]);
    let item = item_of_event(&cfg, &spare_ref, deleted["event_id"].as_str().unwrap(), 20);
    assert_eq!(
        item["configurationItem"]["configurationItemStatus"],
        "ResourceDeleted"
    );

    // The same through a CloudTrail log file the trail bucket announces.
    let lb = e["lb_sg"].as_str().unwrap();
    estate(&m, &["open-ssh", lb]);
    let file = ev(&["log-file", "AuthorizeSecurityGroupIngress", lb]);
    item_of_event(
        &cfg,
        &format!("AWS::EC2::SecurityGroup/{lb}"),
        file["event_id"].as_str().unwrap(),
        20,
    );

    // A burst of 1,000 events on 50 groups: at most 50 describes.
    let before = events_status(&cfg);
    let groups: Vec<&str> = burst["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    let mut args = vec!["burst", "1000"];
    args.extend(groups.iter().copied());
    ev(&args);
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let s = events_status(&cfg);
        let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
        if n(&s, "events") >= n(&before, "events") + 1_000 && n(&s, "pending") == 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "burst not handled: {s}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let described =
        after["keysDescribed"].as_u64().unwrap() - before["keysDescribed"].as_u64().unwrap();
    assert!(
        described <= 50,
        "{described} describes for 50 groups: {after}"
    );
    for g in &groups {
        let h = json_lines(&run(
            &cfg,
            &["history", &format!("AWS::EC2::SecurityGroup/{g}"), "--json"],
        ));
        assert_eq!(h.len(), 2, "{g}: one item for its burst of events");
        assert!(h[0]["changedBy"].is_array(), "{g}");
    }

    // A poison message goes to the dead-letter queue; the queue keeps flowing.
    ev(&["poison"]);
    let g = groups[0];
    estate(&m, &["open-ssh", g]);
    let after_poison = ev(&["event", "AuthorizeSecurityGroupIngress", g]);
    item_of_event(
        &cfg,
        &format!("AWS::EC2::SecurityGroup/{g}"),
        after_poison["event_id"].as_str().unwrap(),
        20,
    );
    cli_support::wait("the poison message in the dead-letter queue", 30, || {
        ev(&["dlq"])["messages"] == 1
    });
    assert!(events_status(&cfg)["poison"].as_u64().unwrap() >= 1);

    // kill -9 right after an event's item is recorded (before or after its message was
    // deleted): after a restart the event is handled again and still makes one item.
    let g = groups[1];
    let g_ref = format!("AWS::EC2::SecurityGroup/{g}");
    estate(&m, &["open-ssh", g]);
    let last = ev(&["event", "AuthorizeSecurityGroupIngress", g]);
    let last_id = last["event_id"].as_str().unwrap();
    item_of_event(&cfg, &g_ref, last_id, 20);
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    let t1 = now_ms();
    let _server = serve(&cfg);
    wait_polled(&cfg, t1);
    std::thread::sleep(Duration::from_secs(4)); // a redelivery after the visibility timeout
    let h = json_lines(&run(&cfg, &["history", &g_ref, "--json"]));
    let explained = h
        .iter()
        .filter(|i| {
            i["changedBy"]
                .as_array()
                .is_some_and(|a| a.iter().any(|b| b["eventId"] == last_id))
        })
        .count();
    assert_eq!(explained, 1, "{h:?}");
}
