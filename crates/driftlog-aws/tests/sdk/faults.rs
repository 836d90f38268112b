//! Failures moto cannot produce: a listing that breaks after its first page, and a service
//! that hands out the same page token twice. A tiny HTTP server on 127.0.0.1 answers the
//! SDK's real requests with scripted EC2 answers (fault injection, the one thing a real
//! server here cannot do); everything on the client side is the real SDK and source.

use driftlog_aws::{AwsSettings, AwsSource, Endpoints, Service};
use driftlog_model::Scope;
use driftlog_poll::{PollOutcome, Source};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>r1</requestId>
<securityGroupInfo><item><ownerId>123456789012</ownerId><groupId>sg-0000000000000000a</groupId><groupName>a</groupName><groupDescription>d</groupDescription><vpcId>vpc-1</vpcId><ipPermissions/><ipPermissionsEgress/></item></securityGroupInfo>
<nextToken>t1</nextToken>
</DescribeSecurityGroupsResponse>"#;

const ERROR: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InternalError</Code><Message>boom</Message></Error></Errors><RequestID>r2</RequestID></Response>"#;

/// Serves `answers` in order, one per request (status, body), then 500s.
async fn serve(answers: Vec<(u16, &'static str)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let answers = Arc::new(std::sync::Mutex::new(answers.into_iter()));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let answers = answers.clone();
            tokio::spawn(async move {
                // Read the head, then the body by Content-Length.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let (status, body) = answers.lock().expect("lock").next().unwrap_or((500, ERROR));
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

async fn source(url: String) -> AwsSource {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    AwsSource::connect(&AwsSettings {
        regions: vec!["us-east-1".into()],
        account_id: Some("123456789012".into()),
        endpoints: Endpoints {
            services: [(Service::Ec2, url)].into(),
            ..Endpoints::default()
        },
        max_attempts: 1,
        call_timeout: Duration::from_secs(5),
        ..AwsSettings::default()
    })
    .await
    .expect("connect")
}

fn sg_scope() -> Scope {
    Scope::new("123456789012", "us-east-1", "AWS::EC2::SecurityGroup")
}

#[tokio::test]
async fn an_error_after_the_first_page_is_a_partial_poll() {
    let url = serve(vec![(200, PAGE), (500, ERROR)]).await;
    let s = source(url).await;
    match s.poll(&sg_scope()).await {
        PollOutcome::Partial(p, e) => {
            assert_eq!(p.resources.len(), 1, "the first page is kept");
            assert_eq!(e.code(), "InternalError", "{e}");
        }
        other => panic!("expected a partial poll, got {other:?}"),
    }
}

#[tokio::test]
async fn a_repeated_page_token_is_a_partial_poll_not_the_end() {
    let url = serve(vec![(200, PAGE), (200, PAGE)]).await;
    let s = source(url).await;
    match s.poll(&sg_scope()).await {
        PollOutcome::Partial(p, e) => {
            assert_eq!(p.resources.len(), 1);
            assert_eq!(e.code(), "RepeatedPageToken", "{e}");
        }
        other => panic!("expected a partial poll, got {other:?}"),
    }
}

#[tokio::test]
async fn an_error_on_the_first_page_is_a_failed_poll() {
    let url = serve(vec![(503, ERROR)]).await;
    let s = source(url).await;
    match s.poll(&sg_scope()).await {
        PollOutcome::Failed(e) => assert_eq!(e.code(), "InternalError", "{e}"),
        other => panic!("expected a failed poll, got {other:?}"),
    }
}
