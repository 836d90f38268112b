//! Webhook signatures: HMAC-SHA256 over `"<unix seconds>.<body>"` with a shared secret,
//! sent as `X-Driftlog-Signature: t=<unix seconds>,v1=<hex>`. The timestamp inside the
//! signed text lets receivers refuse replays older than a tolerance.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Driftlog-Signature";

/// Why a signature was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The header is not `t=<seconds>,v1=<hex>`.
    #[error("malformed signature header {0:?}: expected t=<unix seconds>,v1=<hex>")]
    Malformed(String),
    /// Signed too long ago (or in the future) for the tolerance.
    #[error("signature timestamp {signed} is {skew} s away from now, more than {tolerance} s")]
    Stale {
        /// The signed timestamp.
        signed: i64,
        /// Distance from now, seconds.
        skew: i64,
        /// Allowed distance, seconds.
        tolerance: i64,
    },
    /// The HMAC does not match: wrong secret or altered body.
    #[error("signature does not match the body")]
    Mismatch,
    /// The secret was refused as an HMAC key (HMAC takes any length, so not in practice).
    #[error("the secret cannot be used as an HMAC-SHA256 key")]
    Key,
}

fn mac(secret: &[u8], unix_secs: i64, body: &[u8]) -> Result<Hmac<Sha256>, SignatureError> {
    let mut m =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).map_err(|_| SignatureError::Key)?;
    m.update(unix_secs.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Ok(m)
}

/// The header value signing `body` at `unix_secs`.
///
/// # Errors
/// [`SignatureError::Key`] if the secret is refused as a key (not in practice).
pub fn sign(secret: &[u8], unix_secs: i64, body: &[u8]) -> Result<String, SignatureError> {
    let tag = mac(secret, unix_secs, body)?.finalize().into_bytes();
    Ok(format!("t={unix_secs},v1={}", hex::encode(tag)))
}

/// Checks a header against `body` (constant-time comparison), refusing timestamps more
/// than `tolerance_secs` from `now_secs`.
///
/// # Errors
/// [`SignatureError`] naming what was wrong.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let malformed = || SignatureError::Malformed(header.to_string());
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (t, v1) = (t.ok_or_else(malformed)?, v1.ok_or_else(malformed)?);
    let skew = (now_secs - t).abs();
    if skew > tolerance_secs {
        return Err(SignatureError::Stale {
            signed: t,
            skew,
            tolerance: tolerance_secs,
        });
    }
    mac(secret, t, body)?
        .verify_slice(&v1)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_case_2() {
        // HMAC-SHA256("Jefe", "what do ya want for nothing?"): checks the primitive itself.
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").expect("key");
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sign_then_verify() {
        let h = sign(b"s3cret", 1_700_000_000, b"{\"a\":1}").expect("sign");
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify(b"s3cret", &h, b"{\"a\":1}", 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(b"other", &h, b"{\"a\":1}", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"s3cret", &h, b"{\"a\":2}", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify(b"s3cret", &h, b"{\"a\":1}", 1_700_001_000, 300),
            Err(SignatureError::Stale { .. })
        ));
        assert!(matches!(
            verify(b"s3cret", "v1=zz", b"", 0, 300),
            Err(SignatureError::Malformed(_))
        ));
    }
}
