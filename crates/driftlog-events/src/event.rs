//! One CloudTrail record, read field by field so that a refusal names the field.

use crate::error::{shown, Error, Result};
use serde_json::{Map, Value};

/// What error messages call a bare CloudTrail record.
pub(crate) const CARRIER_EVENT: &str = "CloudTrail event";

/// One CloudTrail record: the `detail` of an EventBridge "AWS API Call via CloudTrail"
/// envelope, or one element of a log file's `Records`.
///
/// Only what attribution and mapping need is typed; `requestParameters` and
/// `responseElements` stay JSON because their shape is per API (the mapping table reads them
/// by path). Unknown fields are ignored, so new CloudTrail versions keep parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudTrailEvent {
    /// `eventVersion`, e.g. `1.08`.
    pub event_version: Option<String>,
    /// `eventID`: unique per event, what AWS Config puts in `relatedEvents`.
    pub event_id: String,
    /// `eventTime` in epoch milliseconds.
    pub event_time_ms: i64,
    /// `eventSource`, e.g. `ec2.amazonaws.com`.
    pub event_source: String,
    /// `eventName` as recorded (Lambda's carry an API version suffix).
    pub event_name: String,
    /// `awsRegion`: where the call was served.
    pub aws_region: String,
    /// `sourceIPAddress`: an IP, or a service name like `cloudformation.amazonaws.com`.
    pub source_ip_address: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// `userIdentity`: who made the call.
    pub user_identity: UserIdentity,
    /// `requestParameters` (`Null` when absent).
    pub request_parameters: Value,
    /// `responseElements` (`Null` when absent, which is common).
    pub response_elements: Value,
    /// `errorCode`: set when the call failed, so it changed nothing.
    pub error_code: Option<String>,
    /// `errorMessage`.
    pub error_message: Option<String>,
    /// `readOnly`: absent on some services and older events.
    pub read_only: Option<bool>,
    /// `eventType`, e.g. `AwsApiCall`, `AwsServiceEvent`, `AwsConsoleSignIn`.
    pub event_type: Option<String>,
    /// `eventCategory`: `Management`, `Data` or `Insight` (absent before eventVersion 1.08).
    pub event_category: Option<String>,
    /// `recipientAccountId`: the account whose resources the call touched.
    pub recipient_account_id: Option<String>,
    /// `resources`, which only some services fill.
    pub resources: Vec<EventResource>,
}

/// `userIdentity` of a CloudTrail record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserIdentity {
    /// `type`: `IAMUser`, `AssumedRole`, `Root`, `AWSService`, `FederatedUser`, ...
    pub identity_type: Option<String>,
    /// `arn` of the caller (for `AssumedRole`, the `assumed-role/ROLE/SESSION` ARN).
    pub arn: Option<String>,
    /// `principalId`.
    pub principal_id: Option<String>,
    /// `accountId` of the caller.
    pub account_id: Option<String>,
    /// `invokedBy`: the service that made the call for the principal.
    pub invoked_by: Option<String>,
    /// `sessionContext`, present for temporary credentials.
    pub session_context: Option<SessionContext>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionContext {
    /// `sessionIssuer`: the role (or user) whose credentials were assumed.
    pub session_issuer: Option<SessionIssuer>,
    /// `attributes` (`creationDate`, `mfaAuthenticated`), kept as text.
    pub attributes: Vec<(String, String)>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionIssuer {
    /// `type`, usually `Role`.
    pub issuer_type: Option<String>,
    /// `arn` of the role, e.g. `arn:aws:iam::111122223333:role/deploy`.
    pub arn: Option<String>,
    /// `userName`: the role's name.
    pub user_name: Option<String>,
    /// `principalId`.
    pub principal_id: Option<String>,
    /// `accountId`.
    pub account_id: Option<String>,
}

/// One element of `resources`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventResource {
    /// `ARN`.
    pub arn: Option<String>,
    /// `type`, e.g. `AWS::EC2::Instance`.
    pub resource_type: Option<String>,
    /// `accountId`.
    pub account_id: Option<String>,
}

impl CloudTrailEvent {
    /// Reads a record from JSON text.
    ///
    /// # Errors
    /// [`Error::Json`] when the text is not JSON, and the errors of [`Self::from_value`].
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|source| Error::Json {
            carrier: CARRIER_EVENT,
            source,
        })?;
        Self::from_value(&value)
    }

    /// Reads a record from parsed JSON.
    ///
    /// # Errors
    /// [`Error::MissingField`] when `eventID`, `eventTime`, `eventSource`, `eventName` or
    /// `awsRegion` is absent, [`Error::InvalidField`] when a field has the wrong JSON type or
    /// `eventTime` is not RFC 3339.
    pub fn from_value(value: &Value) -> Result<Self> {
        Self::read(value, CARRIER_EVENT, "")
    }

    /// Reads a record found at `prefix` (`detail.`, `Records[3].`) inside `carrier`, so that
    /// errors name the field from the top of what was received.
    pub(crate) fn read(value: &Value, carrier: &'static str, prefix: &str) -> Result<Self> {
        let f = Fields::of(value, carrier, prefix.trim_end_matches('.'))?;
        let time_text = f.req_str("eventTime")?;
        let event_time_ms =
            driftlog_model::time::parse_rfc3339_ms(time_text).map_err(|_| Error::InvalidField {
                carrier,
                field: f.path("eventTime"),
                value: shown(&Value::String(time_text.to_string())),
                reason: "not an RFC 3339 time",
            })?;
        let user_identity = match f.opt_obj("userIdentity")? {
            Some(ui) => read_identity(&ui)?,
            None => UserIdentity::default(),
        };
        let resources = match f.get("resources") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let r = Fields::of(item, carrier, &f.path(&format!("resources[{i}]")))?;
                    out.push(EventResource {
                        arn: r.opt_str("ARN")?,
                        resource_type: r.opt_str("type")?,
                        account_id: r.opt_str("accountId")?,
                    });
                }
                out
            }
            Some(other) => return Err(f.invalid("resources", other, "not an array")),
        };
        Ok(Self {
            event_version: f.opt_str("eventVersion")?,
            event_id: f.req_str("eventID")?.to_string(),
            event_time_ms,
            event_source: f.req_str("eventSource")?.to_string(),
            event_name: f.req_str("eventName")?.to_string(),
            aws_region: f.req_str("awsRegion")?.to_string(),
            source_ip_address: f.opt_str("sourceIPAddress")?,
            user_agent: f.opt_str("userAgent")?,
            user_identity,
            request_parameters: f.get("requestParameters").cloned().unwrap_or(Value::Null),
            response_elements: f.get("responseElements").cloned().unwrap_or(Value::Null),
            error_code: f.opt_str("errorCode")?,
            error_message: f.opt_str("errorMessage")?,
            read_only: f.opt_bool("readOnly")?,
            event_type: f.opt_str("eventType")?,
            event_category: f.opt_str("eventCategory")?,
            recipient_account_id: f.opt_str("recipientAccountId")?,
            resources,
        })
    }

    /// The account whose resources the call touched: `recipientAccountId`, else the caller's.
    pub fn account(&self) -> Option<&str> {
        self.recipient_account_id
            .as_deref()
            .or(self.user_identity.account_id.as_deref())
    }
}

fn read_identity(f: &Fields<'_>) -> Result<UserIdentity> {
    let session_context = match f.opt_obj("sessionContext")? {
        None => None,
        Some(sc) => {
            let session_issuer = match sc.opt_obj("sessionIssuer")? {
                None => None,
                Some(si) => Some(SessionIssuer {
                    issuer_type: si.opt_str("type")?,
                    arn: si.opt_str("arn")?,
                    user_name: si.opt_str("userName")?,
                    principal_id: si.opt_str("principalId")?,
                    account_id: si.opt_str("accountId")?,
                }),
            };
            let attributes = match sc.get("attributes") {
                Some(Value::Object(map)) => map
                    .iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Some(SessionContext {
                session_issuer,
                attributes,
            })
        }
    };
    Ok(UserIdentity {
        identity_type: f.opt_str("type")?,
        arn: f.opt_str("arn")?,
        principal_id: f.opt_str("principalId")?,
        account_id: f.opt_str("accountId")?,
        invoked_by: f.opt_str("invokedBy")?,
        session_context,
    })
}

/// A JSON object being read, with the path that leads to it, so refusals name the field.
pub(crate) struct Fields<'a> {
    obj: &'a Map<String, Value>,
    carrier: &'static str,
    prefix: String,
}

impl<'a> Fields<'a> {
    /// `value` must be an object; `at` is its dotted path (empty for the top).
    pub(crate) fn of(value: &'a Value, carrier: &'static str, at: &str) -> Result<Self> {
        match value {
            Value::Object(obj) => Ok(Self {
                obj,
                carrier,
                prefix: at.to_string(),
            }),
            other => Err(Error::InvalidField {
                carrier,
                field: if at.is_empty() {
                    "(top)".into()
                } else {
                    at.into()
                },
                value: shown(other),
                reason: "not a JSON object",
            }),
        }
    }

    /// The dotted path of `key` inside this object.
    pub(crate) fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// The value of `key`, `None` when absent or null.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn invalid(&self, key: &str, value: &Value, reason: &'static str) -> Error {
        Error::InvalidField {
            carrier: self.carrier,
            field: self.path(key),
            value: shown(value),
            reason,
        }
    }

    /// A string field that must be present and non-empty.
    pub(crate) fn req_str(&self, key: &str) -> Result<&'a str> {
        match self.get(key) {
            None => Err(Error::MissingField {
                carrier: self.carrier,
                field: self.path(key),
            }),
            Some(Value::String(s)) if s.is_empty() => {
                Err(self.invalid(key, &Value::String(String::new()), "empty string"))
            }
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(self.invalid(key, other, "not a string")),
        }
    }

    /// A string field that may be absent.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.invalid(key, other, "not a string")),
        }
    }

    /// A boolean that may be absent; `"true"`/`"false"` strings are accepted too, as some
    /// older records carry them.
    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(self.invalid(key, other, "not a boolean")),
        }
    }

    /// A nested object that may be absent.
    pub(crate) fn opt_obj(&self, key: &str) -> Result<Option<Fields<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Fields::of(v, self.carrier, &self.path(key)).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "eventVersion": "1.08",
            "eventID": "3a1c6b0e-0000-4000-8000-000000000001",
            "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "DeleteVpc",
            "awsRegion": "eu-west-1",
            "someFutureField": {"x": 1}
        })
    }

    #[test]
    fn minimal_record_parses_and_ignores_unknown_fields() {
        let e = CloudTrailEvent::from_value(&minimal()).unwrap();
        assert_eq!(e.event_time_ms, 1_714_557_600_000);
        assert_eq!(e.read_only, None);
        assert!(e.request_parameters.is_null());
        assert_eq!(e.user_identity, UserIdentity::default());
    }

    #[test]
    fn refusals_name_the_field_and_value() {
        let cases: &[(&str, Value, &str)] = &[
            ("eventName", Value::Null, "field eventName is missing"),
            (
                "eventName",
                json!(5),
                "field eventName = 5 rejected: not a string",
            ),
            (
                "eventTime",
                json!("yesterday"),
                "field eventTime = \"yesterday\" rejected: not an RFC 3339 time",
            ),
            (
                "readOnly",
                json!(7),
                "field readOnly = 7 rejected: not a boolean",
            ),
            (
                "userIdentity",
                json!("root"),
                "field userIdentity = \"root\" rejected: not a JSON object",
            ),
        ];
        for (key, value, expected) in cases {
            let mut v = minimal();
            v[*key] = value.clone();
            let err = CloudTrailEvent::from_value(&v).unwrap_err().to_string();
            assert!(err.contains(expected), "{key}: {err}");
        }
    }

    #[test]
    fn nested_fields_are_named_by_path() {
        let mut v = minimal();
        v["userIdentity"] =
            json!({"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": 1}}});
        let err = CloudTrailEvent::from_value(&v).unwrap_err().to_string();
        assert!(
            err.contains("userIdentity.sessionContext.sessionIssuer.arn = 1"),
            "{err}"
        );
    }

    #[test]
    fn read_only_as_text_is_accepted() {
        let mut v = minimal();
        v["readOnly"] = json!("true");
        assert_eq!(
            CloudTrailEvent::from_value(&v).unwrap().read_only,
            Some(true)
        );
    }

    #[test]
    fn not_an_object_is_refused() {
        let err = CloudTrailEvent::from_json("[1,2]").unwrap_err().to_string();
        assert!(err.contains("(top)"), "{err}");
        let err = CloudTrailEvent::from_json("{").unwrap_err().to_string();
        assert!(
            err.starts_with("CloudTrail event is not valid JSON"),
            "{err}"
        );
    }
}
