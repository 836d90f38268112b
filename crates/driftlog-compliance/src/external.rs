//! External evaluators: the counterpart of custom Lambda rules without deploying a Lambda.
//! A command (the event on stdin, evaluations on stdout) or an HTTP endpoint (the event as
//! the POST body, evaluations in the answer) receives exactly AWS's Lambda event for Config
//! rules, so an existing rule handler runs with a few lines of glue. It answers with
//! evaluations, or with nothing and reports them later through PutEvaluations with the
//! event's result token.

use driftlog_model::time::parse_rfc3339_ms;
use driftlog_rules::Compliance;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest answer read from an evaluator (100 evaluations of AWS's sizes are far
/// smaller): a runaway evaluator cannot exhaust memory.
const MAX_ANSWER_BYTES: u64 = 4 << 20;

fn too_large(spec: &ExternalSpec) -> String {
    format!(
        "evaluator {} answered more than {MAX_ANSWER_BYTES} bytes",
        spec.name
    )
}

/// How an evaluator is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalKind {
    /// A program and its arguments.
    Command(Vec<String>),
    /// An HTTP(S) endpoint receiving a POST.
    Url(String),
}

/// An evaluator declared in the configuration (`[[evaluators]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSpec {
    /// Name; a CUSTOM_LAMBDA rule's function name refers to it.
    pub name: String,
    /// Command or URL.
    pub kind: ExternalKind,
    /// Longest wait for one invocation; past it the invocation failed.
    pub timeout: Duration,
}

/// One evaluation, as an evaluator or PutEvaluations reports it (AWS's `Evaluation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// `ComplianceResourceType`.
    pub resource_type: String,
    /// `ComplianceResourceId`.
    pub resource_id: String,
    /// `ComplianceType`.
    pub compliance: Compliance,
    /// `Annotation`.
    pub annotation: Option<String>,
    /// `OrderingTimestamp` in ms.
    pub ordering_ms: i64,
}

/// Why an evaluation list was refused: the index of the entry and the member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvaluationError(pub String);

fn time_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().map(|s| (s * 1000.0).round() as i64),
        Value::String(s) => parse_rfc3339_ms(s).ok(),
        _ => None,
    }
}

/// Reads AWS `Evaluation` objects (PascalCase; camelCase accepted from evaluators).
///
/// # Errors
/// [`EvaluationError`] naming the entry and member that is missing or wrong.
pub fn parse_evaluations(list: &[Value], now_ms: i64) -> Result<Vec<Evaluation>, EvaluationError> {
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let get = |pascal: &str, camel: &str| e.get(pascal).or_else(|| e.get(camel)).filter(|v| !v.is_null());
            let s = |pascal: &str, camel: &str| -> Result<String, EvaluationError> {
                get(pascal, camel)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| EvaluationError(format!("Evaluations[{i}].{pascal} is required (a non-empty string)")))
            };
            let resource_type = s("ComplianceResourceType", "complianceResourceType")?;
            let resource_id = s("ComplianceResourceId", "complianceResourceId")?;
            let compliance = match s("ComplianceType", "complianceType")?.as_str() {
                "COMPLIANT" => Compliance::Compliant,
                "NON_COMPLIANT" => Compliance::NonCompliant,
                "NOT_APPLICABLE" => Compliance::NotApplicable,
                "INSUFFICIENT_DATA" => {
                    return Err(EvaluationError(format!(
                        "Evaluations[{i}].ComplianceType INSUFFICIENT_DATA cannot be reported for a resource; use COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE"
                    )))
                }
                other => {
                    return Err(EvaluationError(format!(
                        "Evaluations[{i}].ComplianceType {other:?} is not COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE"
                    )))
                }
            };
            let annotation = match get("Annotation", "annotation") {
                None => None,
                Some(Value::String(a)) if !a.is_empty() && a.chars().count() <= 256 => Some(a.clone()),
                Some(_) => {
                    return Err(EvaluationError(format!(
                        "Evaluations[{i}].Annotation must be a string of 1 to 256 characters"
                    )))
                }
            };
            let ordering_ms = match get("OrderingTimestamp", "orderingTimestamp") {
                None => now_ms,
                Some(v) => time_ms(v).ok_or_else(|| {
                    EvaluationError(format!(
                        "Evaluations[{i}].OrderingTimestamp {v} is neither epoch seconds nor an ISO 8601 time"
                    ))
                })?,
            };
            Ok(Evaluation {
                resource_type,
                resource_id,
                compliance,
                annotation,
                ordering_ms,
            })
        })
        .collect()
}

/// Reads an evaluator's answer: `{"evaluations": [...]}` (or `Evaluations`), a bare list,
/// or nothing (results come later through PutEvaluations).
///
/// # Errors
/// A message saying what the answer should look like.
pub fn parse_answer(text: &str, now_ms: i64) -> Result<Vec<Evaluation>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "the answer is not JSON ({e}); answer {{\"evaluations\": [...]}} or nothing: {}",
            text.chars().take(200).collect::<String>()
        )
    })?;
    let list = match &v {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => match o.get("evaluations").or_else(|| o.get("Evaluations")) {
            Some(Value::Array(a)) => a.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => return Err("\"evaluations\" must be a list".into()),
        },
        _ => return Err("answer {\"evaluations\": [...]} or nothing".into()),
    };
    parse_evaluations(list, now_ms).map_err(|e| e.0)
}

/// Sends `event` to the evaluator and reads its evaluations.
///
/// # Errors
/// A message for the rule's status: timeout, exit status with the end of stderr, HTTP
/// status, or an answer that is not evaluations.
pub async fn invoke(
    spec: &ExternalSpec,
    http: &reqwest::Client,
    event: &Value,
    now_ms: i64,
) -> Result<Vec<Evaluation>, String> {
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let text = match &spec.kind {
        ExternalKind::Command(argv) => {
            let Some((program, args)) = argv.split_first() else {
                return Err(format!("evaluator {} has an empty command", spec.name));
            };
            let run = async {
                let mut child = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("cannot run {program}: {e}"))?;
                // The event is written while the answer is read: an evaluator that starts
                // answering before it read everything never deadlocks on a full pipe.
                let stdin = child.stdin.take();
                let write = async {
                    if let Some(mut stdin) = stdin {
                        // An evaluator that does not read its input is not an error.
                        let _ = stdin.write_all(&body).await;
                    }
                };
                let mut out = Vec::new();
                let mut err = Vec::new();
                let (so, se) = (child.stdout.take(), child.stderr.take());
                let read_out = async {
                    if let Some(s) = so {
                        let _ = s.take(MAX_ANSWER_BYTES).read_to_end(&mut out).await;
                    }
                };
                let read_err = async {
                    if let Some(s) = se {
                        let _ = s.take(64 * 1024).read_to_end(&mut err).await;
                    }
                };
                tokio::join!(write, read_out, read_err);
                let err = String::from_utf8_lossy(&err).into_owned();
                if out.len() as u64 >= MAX_ANSWER_BYTES {
                    return Err(too_large(spec));
                }
                let out = String::from_utf8(out).map_err(|_| {
                    format!("evaluator {} answered bytes that are not UTF-8", spec.name)
                })?;
                let status = child.wait().await.map_err(|e| e.to_string())?;
                if !status.success() {
                    let tail: String = err
                        .chars()
                        .rev()
                        .take(300)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    return Err(format!(
                        "evaluator {} exited with {status}: {}",
                        spec.name,
                        tail.trim()
                    ));
                }
                Ok(out)
            };
            match tokio::time::timeout(spec.timeout, run).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(format!(
                        "evaluator {} timed out after {:?}",
                        spec.name, spec.timeout
                    ))
                }
            }
        }
        ExternalKind::Url(url) => {
            let resp = http
                .post(url)
                .header("content-type", "application/json")
                .timeout(spec.timeout)
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    if e.is_timeout() {
                        format!("evaluator {} timed out after {:?}", spec.name, spec.timeout)
                    } else {
                        format!("evaluator {} at {url}: {e}", spec.name)
                    }
                })?;
            let status = resp.status();
            if resp.content_length().is_some_and(|n| n >= MAX_ANSWER_BYTES) {
                return Err(too_large(spec));
            }
            let text = resp.text().await.map_err(|e| e.to_string())?;
            if text.len() as u64 >= MAX_ANSWER_BYTES {
                return Err(too_large(spec));
            }
            if !status.is_success() {
                return Err(format!(
                    "evaluator {} answered HTTP {status}: {}",
                    spec.name,
                    text.chars().take(200).collect::<String>()
                ));
            }
            text
        }
    };
    parse_answer(&text, now_ms).map_err(|e| format!("evaluator {}: {e}", spec.name))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_read_or_refused() {
        assert!(parse_answer("", 0).unwrap().is_empty());
        assert!(parse_answer("{}", 0).unwrap().is_empty());
        let e = parse_answer(
            r#"{"evaluations":[{"ComplianceResourceType":"AWS::EC2::SecurityGroup","ComplianceResourceId":"sg-1","ComplianceType":"NON_COMPLIANT","OrderingTimestamp":"2024-05-01T10:00:00Z","Annotation":"open"}]}"#,
            0,
        )
        .unwrap();
        assert_eq!(e[0].compliance, Compliance::NonCompliant);
        assert_eq!(e[0].ordering_ms, 1_714_557_600_000);
        assert!(parse_answer("not json", 0)
            .unwrap_err()
            .contains("not JSON"));
        let bad = parse_evaluations(
            &[
                json!({"ComplianceResourceType": "T", "ComplianceResourceId": "i", "ComplianceType": "INSUFFICIENT_DATA"}),
            ],
            0,
        );
        assert!(bad.unwrap_err().0.contains("INSUFFICIENT_DATA"));
        let bad = parse_evaluations(
            &[json!({"ComplianceResourceType": "T", "ComplianceType": "COMPLIANT"})],
            0,
        );
        assert!(bad
            .unwrap_err()
            .0
            .contains("Evaluations[0].ComplianceResourceId"));
    }

    #[tokio::test]
    async fn commands_fail_clearly() {
        let http = reqwest::Client::new();
        let spec = |argv: &[&str], ms| ExternalSpec {
            name: "t".into(),
            kind: ExternalKind::Command(argv.iter().map(|s| s.to_string()).collect()),
            timeout: Duration::from_millis(ms),
        };
        let ok = invoke(
            &spec(
                &["sh", "-c", "cat >/dev/null; echo '{\"evaluations\":[]}'"],
                5000,
            ),
            &http,
            &json!({}),
            0,
        )
        .await;
        assert_eq!(ok.unwrap(), vec![]);
        let e = invoke(
            &spec(&["sh", "-c", "echo boom >&2; exit 3"], 5000),
            &http,
            &json!({}),
            0,
        )
        .await
        .unwrap_err();
        assert!(e.contains("boom") && e.contains("exit"), "{e}");
        let e = invoke(&spec(&["sleep", "5"], 200), &http, &json!({}), 0)
            .await
            .unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        // An evaluator that answers (a lot) before reading a large event does not deadlock.
        let big = json!({"invokingEvent": "x".repeat(300_000)});
        let chatty = spec(
            &[
                "sh",
                "-c",
                "head -c 200000 /dev/zero | tr '\\0' ' '; cat >/dev/null",
            ],
            5000,
        );
        assert_eq!(invoke(&chatty, &http, &big, 0).await.unwrap(), vec![]);
        let e = invoke(&spec(&["/no/such/program"], 1000), &http, &json!({}), 0)
            .await
            .unwrap_err();
        assert!(e.contains("cannot run"), "{e}");
    }
}
