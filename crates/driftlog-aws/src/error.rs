use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use driftlog_poll::PollError;
use thiserror::Error;

/// Why the AWS source could not be set up. Polls never return this: their errors become the
/// status of the scope that failed.
#[derive(Debug, Error)]
pub enum AwsError {
    /// A setting is wrong; the message says which and what to do.
    #[error("{0}")]
    Settings(String),
    /// An AWS call needed at start-up failed (identity of the credentials, region list).
    #[error("{call} failed: {error}; {}", startup_hint(error))]
    Startup {
        /// `sts:GetCallerIdentity`, `ec2:DescribeRegions`, ...
        call: &'static str,
        /// The error, with code and message.
        error: PollError,
    },
}

/// The code of an SDK error whose credential chain found nothing.
pub(crate) const NO_CREDENTIALS: &str = "CredentialsNotLoaded";

/// What to check after a failed start-up call: for missing credentials, every place the
/// SDK's chain looked, in its order.
fn startup_hint(error: &PollError) -> &'static str {
    match error {
        PollError::Source { code, .. } if code == NO_CREDENTIALS => {
            "no AWS credentials were found. driftlog looked, in order, in: the environment \
             (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), the profile \
             (AWS_PROFILE or `profile` in [source.aws], in ~/.aws/credentials and ~/.aws/config, \
             credential_process included), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), SSO (the \
             profile's sso_session: run `aws sso login`), the ECS container endpoint and the EC2 \
             instance metadata service (IMDS). Set one of them, or pass --profile NAME; \
             `-v` shows each step"
        }
        _ => "check the credentials (environment, AWS_PROFILE or `profile`), the network and [source.aws.endpoints]",
    }
}

/// Turns an SDK error into a scope status: the AWS error code (`AccessDenied`,
/// `Throttling`, ...) when the service answered, else what went wrong on the way.
///
/// The `SdkError` type is the same for every service crate, so one function serves all.
pub(crate) fn from_sdk<E>(call: &str, e: &SdkError<E, HttpResponse>) -> PollError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message) = match e {
        // The credential chain found nothing: said once, not as the chain's dump.
        _ if !matches!(e, SdkError::ServiceError(_)) && no_credentials(&chain(e)) => (
            NO_CREDENTIALS.to_string(),
            "no credentials from any provider of the chain".to_string(),
        ),
        SdkError::ServiceError(se) => match (e.code(), e.message()) {
            (Some(c), m) => (
                c.to_string(),
                m.map(str::to_string).unwrap_or_else(|| chain(e)),
            ),
            // The SDK could not read the error's code (an AWS-compatible server wrapping it
            // differently): read it from the body, else name the HTTP status.
            (None, _) => match code_in_body(se.raw()) {
                Some((c, m)) => (c, m.unwrap_or_else(|| chain(e))),
                None => (
                    status_code_name(se.raw().status().as_u16()).to_string(),
                    chain(e),
                ),
            },
        },
        SdkError::TimeoutError(_) => ("RequestTimeout".to_string(), chain(e)),
        SdkError::DispatchFailure(d) => {
            let code = if d.is_timeout() {
                "RequestTimeout"
            } else if d.is_io() {
                "EndpointConnectionError"
            } else {
                "DispatchFailure"
            };
            (code.to_string(), chain(e))
        }
        SdkError::ResponseError(_) => ("ResponseError".to_string(), chain(e)),
        SdkError::ConstructionFailure(_) => ("ConstructionFailure".to_string(), chain(e)),
        _ => ("SdkError".to_string(), chain(e)),
    };
    PollError::Source {
        code,
        message: format!("{call}: {message}"),
    }
}

/// True for the text of an identity-resolution failure of the SDK's credential chain.
fn no_credentials(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("no providers in chain provided credentials")
        || t.contains("credentials not loaded")
        || t.contains("credentialsnotloaded")
        || (t.contains("identity") && t.contains("credentials"))
}

/// The error and its causes, each said once: "dispatch failure: io error: tcp connect
/// error: Connection refused (os error 111)". Short enough for a status line, unlike the
/// SDK's debug dump.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// `Code` and `Message` of an XML error body, wherever they sit: `ErrorResponse/Error`
/// (AWS query APIs), `Response/Errors/Error` (EC2), `Error` (S3), or `ErrorResponse/Errors/Error`
/// (moto's IAM). Read with the SDK's own XML decoder.
fn code_in_body(raw: &HttpResponse) -> Option<(String, Option<String>)> {
    let text = std::str::from_utf8(raw.body().bytes()?).ok()?;
    let mut doc = aws_smithy_xml::decode::Document::new(text);
    let mut root = doc.root_element().ok()?;
    let mut found = (None, None);
    find_code(&mut root, &mut found, 0);
    let (code, message) = found;
    code.map(|c| (c, message))
}

fn find_code(
    el: &mut aws_smithy_xml::decode::ScopedDecoder<'_, '_>,
    found: &mut (Option<String>, Option<String>),
    depth: usize,
) {
    while let Some(mut tag) = el.next_tag() {
        let name = tag.start_el().local().to_string();
        match name.as_str() {
            "Code" if found.0.is_none() => {
                found.0 = aws_smithy_xml::decode::try_data(&mut tag)
                    .ok()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty());
            }
            "Message" if found.1.is_none() => {
                found.1 = aws_smithy_xml::decode::try_data(&mut tag)
                    .ok()
                    .map(|m| m.trim().to_string());
            }
            "Errors" | "Error" if depth < 3 => find_code(&mut tag, found, depth + 1),
            _ => {}
        }
    }
}

/// A code for an error answer without one, from its HTTP status.
fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 | 403 => "AccessDenied",
        404 => "NotFound",
        429 => "Throttling",
        500..=599 => "ServiceUnavailable",
        _ => "ServiceError",
    }
}

/// The error code of an SDK error, when the service gave one (to recognise the "not
/// configured" answers of S3, which are values, not failures).
pub(crate) fn code_of<E>(e: &SdkError<E, HttpResponse>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => s
            .err()
            .code()
            .map(str::to_string)
            .or_else(|| code_in_body(s.raw()).map(|(c, _)| c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::primitives::SdkBody;

    fn raw(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(
            status.try_into().expect("status"),
            SdkBody::from(body.to_string()),
        )
    }

    #[test]
    fn codes_are_found_in_every_wrapping() {
        for body in [
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>",
            "<Response><Errors><Error><Code>AccessDenied</Code><Message>no</Message></Error></Errors><RequestID>x</RequestID></Response>",
            "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>no</Message><Type>Sender</Type></Error></Errors></ErrorResponse>",
            "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
        ] {
            let r = raw(403, body);
            assert_eq!(
                code_in_body(&r),
                Some(("AccessDenied".to_string(), Some("no".to_string()))),
                "{body}"
            );
        }
        assert_eq!(code_in_body(&raw(403, "<html>denied</html>")), None);
        assert_eq!(status_code_name(403), "AccessDenied");
    }
}
