//! The SQS event feed (issue 16) against moto: real SQS queues and an S3 bucket on loopback,
//! set up with the SDK's own clients. EventBridge is not among the SDK crates this crate
//! links, so its envelopes are sent straight into the queue, in AWS's exact envelope (what
//! an EventBridge rule with an SQS target delivers). S3's notifications of new log files
//! are delivered by moto itself from the bucket's notification configuration.

use crate::moto::support::{moto, Moto, CREDENTIALS};
use aws_config::BehaviorVersion;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use driftlog_aws::{AwsSettings, Endpoints, EventSettings, SqsEventFeed};
use driftlog_poll::{Content, EventFeed, EventMessage, Receipt};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const SG: &str = "sg-0123456789abcdef0";

fn credentials() {
    // The feed reads them through the SDK's standard chain; moto accepts any key.
    for (k, v) in CREDENTIALS {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AWS_PROFILE");
}

/// moto and the SDK clients that set up its queues and bucket.
struct Rig {
    url: String,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
}

async fn rig(m: &Moto) -> Rig {
    credentials();
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&m.url)
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(true)
        .build();
    Rig {
        url: m.url.clone(),
        sqs: aws_sdk_sqs::Client::new(&conf),
        s3: aws_sdk_s3::Client::from_conf(s3),
    }
}

impl Rig {
    async fn queue(&self, name: &str, attributes: &[(QueueAttributeName, String)]) -> String {
        let mut req = self.sqs.create_queue().queue_name(name);
        for (k, v) in attributes {
            req = req.attributes(k.clone(), v.clone());
        }
        let out = req.send().await.expect("create queue");
        out.queue_url().expect("queue url").to_string()
    }

    async fn attribute(&self, queue: &str, name: QueueAttributeName) -> String {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(name.clone())
            .send()
            .await
            .expect("get queue attributes");
        out.attributes()
            .and_then(|a| a.get(&name))
            .cloned()
            .unwrap_or_else(|| panic!("{queue} has no {name:?}"))
    }

    /// Messages in the queue, visible or not (received and not deleted).
    async fn held(&self, queue: &str) -> u64 {
        let mut n = 0;
        for a in [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ] {
            n += self
                .attribute(queue, a)
                .await
                .parse::<u64>()
                .expect("count");
        }
        n
    }

    async fn send(&self, queue: &str, body: &str) {
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
            .await
            .expect("send message");
    }

    async fn feed(&self, queues: &[&str], bucket_queue: Option<&str>, wait: u32) -> SqsEventFeed {
        let aws = AwsSettings {
            regions: vec![REGION.into()],
            account_id: Some(ACCOUNT.into()),
            endpoints: Endpoints::everywhere(&self.url),
            max_attempts: 2,
            call_timeout: Duration::from_secs(10),
            ..AwsSettings::default()
        };
        let events = EventSettings {
            queue_urls: queues.iter().map(|q| q.to_string()).collect(),
            cloudtrail_bucket_queue: bucket_queue.map(str::to_string),
            wait_seconds: wait,
            ..EventSettings::default()
        };
        SqsEventFeed::connect(&aws, &events).await.expect("feed")
    }
}

/// What an EventBridge rule on "AWS API Call via CloudTrail" puts on its SQS target for
/// `aws ec2 authorize-security-group-ingress` run by an SSO user: AWS's envelope, field for
/// field.
fn authorize_ingress_envelope() -> Value {
    let role = "AWSReservedSSO_PowerUser_0123456789abcdef";
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": "2024-05-01T10:04:12Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLEROLEID12345:alice@example.com",
                "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/alice@example.com"),
                "accountId": ACCOUNT,
                "accessKeyId": "ASIAEXAMPLEKEYID1234",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAEXAMPLEROLEID12345",
                        "arn": format!("arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{role}"),
                        "accountId": ACCOUNT,
                        "userName": role
                    },
                    "attributes": {
                        "creationDate": "2024-05-01T09:58:40Z",
                        "mfaAuthenticated": "false"
                    }
                }
            },
            "eventTime": "2024-05-01T10:04:12Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress",
            "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22 prompt/off command/ec2.authorize-security-group-ingress",
            "requestParameters": {
                "groupId": SG,
                "ipPermissions": {"items": [{
                    "ipProtocol": "tcp",
                    "fromPort": 22,
                    "toPort": 22,
                    "groups": {},
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                    "ipv6Ranges": {},
                    "prefixListIds": {}
                }]}
            },
            "responseElements": {
                "requestId": "1e1f6a5c-3c1d-4a5e-9a5f-2f3c4d5e6f70",
                "_return": true,
                "securityGroupRuleSet": {"items": [{
                    "groupOwnerId": ACCOUNT,
                    "groupId": SG,
                    "securityGroupRuleId": "sgr-0a1b2c3d4e5f60718",
                    "isEgress": false,
                    "ipProtocol": "tcp",
                    "fromPort": 22,
                    "toPort": 22,
                    "cidrIpv4": "0.0.0.0/0"
                }]}
            },
            "requestID": "1e1f6a5c-3c1d-4a5e-9a5f-2f3c4d5e6f70",
            "eventID": "3b1f0a2e-9c8d-4e7f-a6b5-c4d3e2f1a0b9",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": "ec2.us-east-1.amazonaws.com"
            }
        }
    })
}

fn events_of(m: &EventMessage) -> (&[driftlog_events::CloudTrailEvent], &[String]) {
    match &m.content {
        Content::Events(events, errors) => (events, errors),
        other => panic!("expected events, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eventbridge_envelope_is_one_event_and_its_ack_deletes_it() {
    let Some(m) = moto() else { return };
    let r = rig(&m).await;
    let queue = r.queue("driftlog-events", &[]).await;
    let before = driftlog_model::time::now_ms();
    r.send(&queue, &authorize_ingress_envelope().to_string())
        .await;
    let feed = r.feed(&[&queue], None, 2).await;
    assert_eq!(feed.name(), "sqs");
    assert_eq!(feed.queues(), vec![queue.as_str()]);
    assert_eq!(feed.backlog().await, Some(1));

    let got = feed.receive().await.expect("receive");
    assert_eq!(got.len(), 1, "{got:?}");
    let msg = &got[0];
    assert_eq!(msg.receipt.queue, queue);
    assert_eq!(msg.receive_count, 1);
    let sent = msg.sent_ms.expect("SentTimestamp");
    assert!(
        (sent - before).abs() < 60_000,
        "sent at {sent}, sending began at {before}"
    );
    let (events, errors) = events_of(msg);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.event_name, "AuthorizeSecurityGroupIngress");
    assert_eq!(e.event_source, "ec2.amazonaws.com");
    assert_eq!(e.event_id, "3b1f0a2e-9c8d-4e7f-a6b5-c4d3e2f1a0b9");
    assert_eq!(
        e.user_identity.identity_type.as_deref(),
        Some("AssumedRole")
    );
    let issuer = e
        .user_identity
        .session_context
        .as_ref()
        .and_then(|s| s.session_issuer.as_ref())
        .expect("session issuer");
    assert_eq!(
        issuer.user_name.as_deref(),
        Some("AWSReservedSSO_PowerUser_0123456789abcdef")
    );
    // The event reaches the security group it changed.
    let driftlog_events::Mapped::Resources(targets) = driftlog_events::map(e) else {
        panic!("unmapped: {:?}", driftlog_events::map(e));
    };
    assert!(
        targets
            .iter()
            .any(|t| t.resource_type == "AWS::EC2::SecurityGroup"),
        "{targets:?}"
    );

    // Received, the message is in flight (invisible), not gone; the ack deletes it.
    assert_eq!(r.held(&queue).await, 1);
    feed.ack(std::slice::from_ref(&msg.receipt))
        .await
        .expect("ack");
    assert_eq!(r.held(&queue).await, 0, "deleted, not just hidden");
    assert_eq!(feed.backlog().await, Some(0));
    let again = feed.receive().await.expect("receive");
    assert!(again.is_empty(), "{again:?}");

    // A receipt SQS does not know is reported by name, with SQS's code.
    let bogus = Receipt {
        queue: queue.clone(),
        handle: "not-a-receipt-handle".into(),
    };
    let err = feed
        .ack(std::slice::from_ref(&bogus))
        .await
        .expect_err("bogus receipt");
    let text = err.to_string();
    assert!(text.contains("not-a-receipt-handle"), "{text}");
    assert!(text.contains(&queue), "{text}");
    assert!(text.contains("1 of 1"), "{text}");
    assert_eq!(feed.ack(&[]).await, Ok(()));
}

/// One CloudTrail record of the log file.
fn record(event_id: &str, name: &str, params: Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEUSERID123",
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/terraform"),
            "accountId": ACCOUNT,
            "userName": "terraform"
        },
        "eventTime": "2024-05-01T09:58:31Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "Terraform/1.7.4",
        "requestParameters": params,
        "responseElements": null,
        "requestID": format!("req-{event_id}"),
        "eventID": event_id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// An S3 notification of one new object, in AWS's shape (keys form-encoded).
fn s3_notification(bucket: &str, key: &str, size: u64) -> String {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2024-05-01T10:05:01.123Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLECLOUDTRAIL:regionalDeliverySession"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "driftlog",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": format!("arn:aws:s3:::{bucket}")
            },
            "object": {"key": key, "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"}
        }
    }]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudtrail_log_file_is_fetched_from_s3_when_its_notification_arrives() {
    let Some(m) = moto() else { return };
    let r = rig(&m).await;
    let queue = r.queue("driftlog-trail-files", &[]).await;
    let arn = r.attribute(&queue, QueueAttributeName::QueueArn).await;
    let bucket = "driftlog-trail";
    r.s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket");
    r.s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(&arn)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .expect("queue configuration"),
                )
                .build(),
        )
        .send()
        .await
        .expect("notification configuration");

    let prefix = format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2024/05/01");
    let key = format!("{prefix}/{ACCOUNT}_CloudTrail_{REGION}_20240501T1000Z_abc.json.gz");
    let mut bad = record("e-2", "CreateTags", json!({}));
    bad.as_object_mut().expect("object").remove("eventTime");
    let file = json!({"Records": [
        record("e-1", "AuthorizeSecurityGroupIngress", json!({"groupId": SG})),
        bad,
        record("e-3", "RevokeSecurityGroupIngress", json!({"groupId": SG})),
    ]});
    let body = gzip(file.to_string().as_bytes());
    let size = body.len() as u64;
    r.s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("put log file");

    // moto (5.x) delivers S3's notifications to SQS itself, the s3:TestEvent of a new
    // configuration included. Should a moto version not, the notification AWS would send
    // is sent by hand after a few seconds, and the test still reads the file through it.
    let feed = r.feed(&[], Some(&queue), 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sent_by_hand = false;
    let file_msg = loop {
        let got = feed.receive().await.expect("receive");
        let mut found = None;
        for msg in got {
            match &msg.content {
                Content::Ignored(why) => {
                    assert!(why.contains("s3:TestEvent"), "{why}");
                    feed.ack(std::slice::from_ref(&msg.receipt))
                        .await
                        .expect("ack");
                }
                Content::Events(..) => found = Some(msg),
                Content::Poison(why) => panic!("poison: {why}"),
            }
        }
        if let Some(msg) = found {
            break msg;
        }
        if !sent_by_hand && Instant::now() + Duration::from_secs(7) > deadline {
            eprintln!("NOTE: moto did not deliver the S3 notification; sent by hand");
            r.send(&queue, &s3_notification(bucket, &key, size)).await;
            sent_by_hand = true;
        }
        assert!(Instant::now() < deadline, "no notification of the log file");
    };
    let (events, errors) = events_of(&file_msg);
    let names: Vec<&str> = events.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress"
        ]
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("Records[1].eventTime"), "{errors:?}");
    assert!(
        errors[0].contains(&format!("s3://{bucket}/{key}")),
        "{errors:?}"
    );
    feed.ack(std::slice::from_ref(&file_msg.receipt))
        .await
        .expect("ack");

    // A file that cannot be fetched is poison, naming the object and S3's code: the
    // message stays on the queue for the redrive policy.
    let missing = format!("{prefix}/{ACCOUNT}_CloudTrail_{REGION}_20240501T1005Z_gone.json.gz");
    r.send(&queue, &s3_notification(bucket, &missing, 100))
        .await;
    // A file S3 says is larger than any CloudTrail file is refused without reading it.
    r.send(&queue, &s3_notification(bucket, &key, 1 << 40))
        .await;
    // A digest file is not an event log: nothing to fetch.
    let digest = format!(
        "AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2024/05/01/{ACCOUNT}_CloudTrail-Digest_{REGION}_x.json.gz"
    );
    r.send(&queue, &s3_notification(bucket, &digest, 100)).await;

    let mut poisons = Vec::new();
    let mut ignored = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while poisons.len() + ignored.len() < 3 {
        assert!(Instant::now() < deadline, "{poisons:?} {ignored:?}");
        for msg in feed.receive().await.expect("receive") {
            match msg.content {
                Content::Poison(why) => poisons.push(why),
                Content::Ignored(why) => {
                    feed.ack(&[msg.receipt]).await.expect("ack");
                    ignored.push(why);
                }
                Content::Events(e, _) => panic!("unexpected events {e:?}"),
            }
        }
    }
    poisons.sort();
    assert_eq!(poisons.len(), 2, "{poisons:?}");
    let gone = poisons
        .iter()
        .find(|p| p.contains("gone.json.gz"))
        .expect("the missing file");
    assert!(gone.contains(&format!("s3://{bucket}/{missing}")), "{gone}");
    assert!(gone.contains("NoSuchKey"), "{gone}");
    let large = poisons
        .iter()
        .find(|p| p.contains("LogFileTooLarge"))
        .expect("the large file");
    assert!(large.contains(&key), "{large}");
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert!(ignored[0].contains("no CloudTrail log file"), "{ignored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_while_the_queue_flows() {
    let Some(m) = moto() else { return };
    let r = rig(&m).await;
    let dlq = r.queue("driftlog-events-dlq", &[]).await;
    let dlq_arn = r.attribute(&dlq, QueueAttributeName::QueueArn).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}).to_string();
    let queue = r
        .queue(
            "driftlog-events-main",
            &[
                // Visible again at once: each receive is another delivery.
                (QueueAttributeName::VisibilityTimeout, "0".into()),
                (QueueAttributeName::RedrivePolicy, redrive),
            ],
        )
        .await;
    r.send(&queue, "not json").await;
    r.send(&queue, &authorize_ingress_envelope().to_string())
        .await;

    let feed = r.feed(&[&queue], None, 1).await;
    let mut poison_counts = Vec::new();
    let mut good = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until the poison message has left the queue and the good one was handled.
    while good == 0 || r.held(&queue).await > 0 {
        assert!(
            Instant::now() < deadline,
            "poison seen {poison_counts:?}, good {good}"
        );
        for msg in feed.receive().await.expect("receive") {
            match &msg.content {
                Content::Poison(why) => {
                    assert!(why.contains("not valid JSON"), "{why}");
                    poison_counts.push(msg.receive_count);
                }
                Content::Events(events, _) => {
                    assert_eq!(events[0].event_name, "AuthorizeSecurityGroupIngress");
                    good += 1;
                    feed.ack(std::slice::from_ref(&msg.receipt))
                        .await
                        .expect("ack");
                }
                Content::Ignored(why) => panic!("ignored: {why}"),
            }
        }
    }
    assert_eq!(good, 1, "the good message flowed once");
    assert_eq!(poison_counts, [1, 2], "received maxReceiveCount times");

    // The poison message waits in the dead-letter queue, as sent.
    let out = r
        .sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive from the DLQ");
    let bodies: Vec<&str> = out.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["not json"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_are_polled_at_once_so_a_quiet_one_delays_nothing() {
    let Some(m) = moto() else { return };
    let r = rig(&m).await;
    let quiet = r.queue("driftlog-quiet", &[]).await;
    let busy = r.queue("driftlog-busy", &[]).await;
    // The longest long poll SQS allows: a feed polling one queue after the other would
    // wait it out on the quiet queue before seeing the busy one.
    let feed = r.feed(&[&quiet, &busy], None, 20).await;
    assert_eq!(feed.queues(), vec![quiet.as_str(), busy.as_str()]);

    let sender = {
        let sqs = r.sqs.clone();
        let busy = busy.clone();
        let body = authorize_ingress_envelope().to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            sqs.send_message()
                .queue_url(busy)
                .message_body(body)
                .send()
                .await
                .expect("send");
        })
    };
    let start = Instant::now();
    let got = feed.receive().await.expect("receive");
    let took = start.elapsed();
    sender.await.expect("sender");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].receipt.queue, busy);
    // Generous against a slow machine, and still half the quiet queue's long poll.
    assert!(took < Duration::from_secs(10), "took {took:?}");

    // One message on each: both are received (the quiet queue's poll, still in flight from
    // the first call, answers this one), and one ack deletes them from their own queues.
    r.send(&quiet, &authorize_ingress_envelope().to_string())
        .await;
    r.send(&busy, &authorize_ingress_envelope().to_string())
        .await;
    let mut receipts = vec![got[0].receipt.clone()];
    let deadline = Instant::now() + Duration::from_secs(30);
    while receipts.len() < 3 {
        assert!(Instant::now() < deadline, "{receipts:?}");
        for msg in feed.receive().await.expect("receive") {
            assert_eq!(events_of(&msg).0.len(), 1);
            receipts.push(msg.receipt);
        }
    }
    let mut queues: Vec<&str> = receipts.iter().map(|r| r.queue.as_str()).collect();
    queues.sort();
    let mut expected = vec![busy.as_str(), busy.as_str(), quiet.as_str()];
    expected.sort();
    assert_eq!(queues, expected);
    feed.ack(&receipts).await.expect("ack");
    assert_eq!(r.held(&quiet).await + r.held(&busy).await, 0);
    assert_eq!(feed.backlog().await, Some(0));
}

#[tokio::test]
async fn settings_outside_what_sqs_allows_are_refused() {
    let aws = AwsSettings {
        regions: vec![REGION.into()],
        ..AwsSettings::default()
    };
    let queue = "https://sqs.us-east-1.amazonaws.com/123456789012/q".to_string();
    for (events, needle) in [
        (
            EventSettings {
                queue_urls: vec![queue.clone()],
                wait_seconds: 21,
                ..EventSettings::default()
            },
            "wait_seconds",
        ),
        (
            EventSettings {
                queue_urls: vec![queue.clone()],
                max_messages: 11,
                ..EventSettings::default()
            },
            "max_messages",
        ),
        (EventSettings::default(), "no queue"),
    ] {
        let err = SqsEventFeed::connect(&aws, &events)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(needle), "{err}");
    }
}
