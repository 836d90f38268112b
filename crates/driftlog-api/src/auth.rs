//! Who is calling: AWS Signature Version 4 checked against the access keys in the config,
//! the signature recomputed with AWS's own signer (`aws-sigv4`) over exactly the headers
//! the client signed. The credential scope also gives the caller's region, and the key its
//! account, which choose the resources a call sees.

use crate::error::{ApiError, ApiResult};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// How far a request's `X-Amz-Date` may be from our clock, as AWS allows.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// One access key the server accepts.
#[derive(Debug, Clone)]
pub struct AccessKey {
    /// The secret access key.
    pub secret: String,
    /// The account whose resources this key sees (`None`: every recorded account).
    pub account: Option<String>,
}

/// Whether requests must be signed.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Anyone who can reach the port may call (allowed only on loopback; the server says
    /// so at start). Signatures, when sent, are read for the region and key, never checked.
    Off,
    /// Every request signed with one of these keys (by access key id).
    SigV4(HashMap<String, AccessKey>),
}

/// The authenticated caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// Access key id, when the request was signed.
    pub access_key: Option<String>,
    /// Region of the signature's credential scope.
    pub region: Option<String>,
    /// Account the key is tied to.
    pub account: Option<String>,
}

struct Parsed<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> ApiResult<Parsed<'_>> {
    let incomplete = |what: &str| {
        ApiError::new(
            "IncompleteSignatureException",
            format!("Authorization header requires '{what}' parameter. Authorization={value}"),
        )
    };
    let rest = value.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        ApiError::new(
            "IncompleteSignatureException",
            format!("Unsupported authorization type: only AWS4-HMAC-SHA256 is accepted. Authorization={value}"),
        )
    })?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or_else(|| incomplete("Credential"))?;
    let signed = signed.ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(ApiError::new(
            "IncompleteSignatureException",
            format!("Credential should be scoped to a valid region and service, and end with aws4_request: '{credential}'."),
        ));
    }
    Ok(Parsed {
        access_key: scope[0],
        date: scope[1],
        region: scope[2],
        service: scope[3],
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

/// The access key and region a request claims (its `Authorization` header), checked or
/// not: what the audit trail records of a refused caller.
pub(crate) fn claimed(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| parse_authorization(a).ok())
        .map_or((None, None), |p| {
            (Some(p.access_key.to_string()), Some(p.region.to_string()))
        })
}

fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let t = chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").ok()?;
    let secs = u64::try_from(t.and_utc().timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

impl Auth {
    /// Checks a request (`path_and_query` as sent) and names its caller.
    ///
    /// # Errors
    /// AWS's authentication errors: `MissingAuthenticationTokenException` (unsigned),
    /// `IncompleteSignatureException` (malformed), `UnrecognizedClientException` (unknown
    /// key), `InvalidSignatureException` (wrong signature or expired).
    pub fn check(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> ApiResult<Caller> {
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let authorization = header("authorization");
        let keys = match self {
            Auth::Off => {
                // Read, never checked: the region picks what the caller sees.
                let parsed = authorization.and_then(|a| parse_authorization(a).ok());
                return Ok(Caller {
                    access_key: parsed.as_ref().map(|p| p.access_key.to_string()),
                    region: parsed.as_ref().map(|p| p.region.to_string()),
                    account: None,
                });
            }
            Auth::SigV4(keys) => keys,
        };
        let Some(authorization) = authorization else {
            return Err(ApiError::forbidden(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let p = parse_authorization(authorization)?;
        let Some(key) = keys.get(p.access_key) else {
            return Err(ApiError::forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        };
        let amz_date = header("x-amz-date").ok_or_else(|| {
            ApiError::new(
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        })?;
        let time = parse_amz_date(amz_date)
            .filter(|_| amz_date.starts_with(p.date))
            .ok_or_else(|| {
                ApiError::new(
                    "IncompleteSignatureException",
                    format!("Date must be in ISO-8601 'basic format' and match the credential scope date. Got '{amz_date}'."),
                )
            })?;
        let skew = now.duration_since(time).unwrap_or_else(|e| e.duration());
        if skew > MAX_SKEW {
            return Err(ApiError::forbidden(
                "InvalidSignatureException",
                format!("Signature expired: {amz_date} is now earlier or later than the server time by more than 15 minutes."),
            ));
        }
        // The headers the client signed, as it sent them.
        let mut signed: Vec<(&str, String)> = Vec::with_capacity(p.signed_headers.len());
        for name in &p.signed_headers {
            let values: Vec<&str> = headers
                .get_all(*name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if values.is_empty() {
                return Err(mismatch());
            }
            signed.push((name, values.join(",")));
        }
        let token = p
            .signed_headers
            .contains(&"x-amz-security-token")
            .then(|| header("x-amz-security-token").map(str::to_string))
            .flatten();
        let host = header("host").unwrap_or("localhost");
        let uri = format!("http://{host}{path_and_query}");
        let identity = aws_credential_types::Credentials::new(
            p.access_key,
            key.secret.clone(),
            token,
            None,
            "driftlog-config",
        )
        .into();
        let mut settings = SigningSettings::default();
        // Sign exactly what the client listed (the default would leave out user-agent).
        settings.excluded_headers = Some(Vec::new());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(p.region)
            .name(p.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(ApiError::internal)?
            .into();
        let request = SignableRequest::new(
            method,
            uri,
            signed.iter().map(|(n, v)| (*n, v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|_| mismatch())?;
        let expected = sign(request, &params).map_err(|_| mismatch())?;
        if !constant_time_eq(expected.signature().as_bytes(), p.signature.as_bytes()) {
            return Err(mismatch());
        }
        Ok(Caller {
            access_key: Some(p.access_key.to_string()),
            region: Some(p.region.to_string()),
            account: key.account.clone(),
        })
    }
}

fn mismatch() -> ApiError {
    ApiError::forbidden(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    /// Signs a request the way the SDKs do, with the same signer.
    fn signed_request(secret: &str, body: &[u8], at: SystemTime) -> HeaderMap {
        let amz = chrono::DateTime::<chrono::Utc>::from(at)
            .format("%Y%m%dT%H%M%SZ")
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4000".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-amz-json-1.1".parse().unwrap(),
        );
        headers.insert(
            "x-amz-target",
            "StarlingDoveService.DescribeConfigurationRecorders"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-date", amz.parse().unwrap());
        let identity =
            aws_credential_types::Credentials::new("AKID", secret, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("config")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let pairs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let req = SignableRequest::new(
            "POST",
            "http://127.0.0.1:4000/",
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let sig = sign(req, &params).unwrap();
        let date = &amz[..8];
        headers.insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/{date}/eu-west-1/config/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}",
                sig.signature()
            )
            .parse()
            .unwrap(),
        );
        headers
    }

    fn auth() -> Auth {
        Auth::SigV4(HashMap::from([(
            "AKID".to_string(),
            AccessKey {
                secret: "right".into(),
                account: Some("123456789012".into()),
            },
        )]))
    }

    #[test]
    fn a_good_signature_names_the_caller_and_a_bad_one_is_refused() {
        let now = SystemTime::now();
        let body = b"{}";
        let h = signed_request("right", body, now);
        let c = auth().check("POST", "/", &h, body, now).unwrap();
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.account.as_deref(), Some("123456789012"));
        let h = signed_request("wrong", body, now);
        let e = auth().check("POST", "/", &h, body, now).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        assert_eq!(e.status.as_u16(), 403);
        // The body is signed too.
        let h = signed_request("right", body, now);
        let e = auth().check("POST", "/", &h, b"{ }", now).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        // Too old.
        let e = auth()
            .check("POST", "/", &h, body, now + Duration::from_secs(3600))
            .unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        assert!(e.message.contains("expired"));
    }

    #[test]
    fn unsigned_and_unknown_keys_get_aws_errors() {
        let now = SystemTime::now();
        let e = auth()
            .check("POST", "/", &HeaderMap::new(), b"{}", now)
            .unwrap_err();
        assert_eq!(e.code, "MissingAuthenticationTokenException");
        let mut h = signed_request("right", b"{}", now);
        let a = h["authorization"]
            .to_str()
            .unwrap()
            .replace("AKID/", "OTHER/");
        h.insert("authorization", a.parse().unwrap());
        let e = auth().check("POST", "/", &h, b"{}", now).unwrap_err();
        assert_eq!(e.code, "UnrecognizedClientException");
        // Off: nothing checked, the region still read.
        let c = Auth::Off.check("POST", "/", &h, b"{}", now).unwrap();
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
    }
}
