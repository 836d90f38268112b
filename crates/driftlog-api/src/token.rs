//! Page tokens: opaque to clients, stable (the same request at the same position gives the
//! same token), bound to the operation and its parameters, and signed with a key kept in
//! the store, so a forged or edited token is refused with `InvalidNextTokenException`
//! instead of reading from a made-up position.

use crate::error::{ApiError, ApiResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use driftlog_log::Log;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The key that signs page tokens: 32 random bytes, made on first use.
const TOKEN_KEY: driftlog_log::Namespace<Vec<u8>, driftlog_log::namespace::Bytes> =
    driftlog_log::Namespace::new("api/token_key", 1);

/// Signs and checks page tokens.
#[derive(Clone)]
pub struct Tokens {
    base: Hmac<Sha256>,
}

#[derive(Serialize, Deserialize)]
struct Body {
    /// Operation.
    o: String,
    /// Fingerprint of the request's other parameters.
    f: String,
    /// Position to resume at.
    p: String,
}

impl Tokens {
    /// The store's token key, created on first use (so tokens outlive a restart).
    ///
    /// # Errors
    /// The store could not be read or written, or the OS gave no randomness.
    pub fn open(log: &Log) -> Result<Self, String> {
        match TOKEN_KEY.get(log, "") {
            Ok(Some(k)) if k.len() == 32 => return Self::with_key(&k),
            Ok(_) => {}
            // A key stored before namespaces had headers is 32 random bytes, which start
            // with the header's magic byte once in 256 stores: such a key is replaced
            // (tokens issued before are refused, as after a lost key), never a server that
            // cannot start.
            Err(e @ driftlog_log::Error::BadRecord { .. }) => {
                tracing::warn!(error = %e, "The page-token key was unreadable; a new one is made.");
            }
            Err(e) => return Err(e.to_string()),
        }
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key)
            .map_err(|e| format!("no randomness for the token key: {e}"))?;
        TOKEN_KEY
            .put(log, "", &key.to_vec())
            .map_err(|e| e.to_string())?;
        log.flush().map_err(|e| e.to_string())?;
        Self::with_key(&key)
    }

    fn with_key(key: &[u8]) -> Result<Self, String> {
        Ok(Self {
            base: <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .map_err(|_| "token key refused".to_string())?,
        })
    }

    fn mac(&self, body: &[u8]) -> Vec<u8> {
        let mut m = self.base.clone();
        m.update(body);
        m.finalize().into_bytes()[..16].to_vec()
    }

    /// A token resuming `op` at `position` for a request whose other parameters are
    /// `fingerprint`.
    pub fn issue(&self, op: &str, fingerprint: &str, position: &str) -> String {
        let body = serde_json::to_vec(&Body {
            o: op.to_string(),
            f: fingerprint.to_string(),
            p: position.to_string(),
        })
        .unwrap_or_default();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(self.mac(&body))
        )
    }

    /// The position of a token this server issued for the same operation and parameters.
    ///
    /// # Errors
    /// `InvalidNextTokenException` for anything else.
    pub fn position(&self, op: &str, fingerprint: &str, token: &str) -> ApiResult<String> {
        let (b, m) = token.split_once('.').ok_or_else(ApiError::bad_token)?;
        let body = URL_SAFE_NO_PAD
            .decode(b)
            .map_err(|_| ApiError::bad_token())?;
        let mac = URL_SAFE_NO_PAD
            .decode(m)
            .map_err(|_| ApiError::bad_token())?;
        // Constant-time comparison through the MAC's own verifier.
        if mac.len() != 16 {
            return Err(ApiError::bad_token());
        }
        let mut check = self.base.clone();
        check.update(&body);
        check
            .verify_truncated_left(&mac)
            .map_err(|_| ApiError::bad_token())?;
        let body: Body = serde_json::from_slice(&body).map_err(|_| ApiError::bad_token())?;
        if body.o != op || body.f != fingerprint {
            return Err(ApiError::bad_token());
        }
        Ok(body.p)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn tokens() -> Tokens {
        Tokens::with_key(&[7; 32]).unwrap()
    }

    /// postmortem: a key stored before namespaces had headers that starts with the header's
    /// magic byte would have stopped the API from opening.
    #[test]
    fn an_old_key_that_looks_like_a_header_is_replaced_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), driftlog_log::LogOptions::default()).unwrap();
        let mut old = [5u8; 32];
        old[0] = 0xD1;
        old[1] = 7;
        log.put_kv("api/token_key", &old).unwrap();
        let t = Tokens::open(&log).unwrap();
        let a = t.issue("ListDiscoveredResources", "AWS::EC2::VPC", "vpc-1");
        // The new key is kept: a restart reads the same one.
        let again = Tokens::open(&log).unwrap();
        assert_eq!(
            again
                .position("ListDiscoveredResources", "AWS::EC2::VPC", &a)
                .unwrap(),
            "vpc-1"
        );
    }

    #[test]
    fn a_token_round_trips_and_is_stable() {
        let t = tokens();
        let a = t.issue("ListDiscoveredResources", "AWS::EC2::VPC", "vpc-1");
        assert_eq!(
            a,
            t.issue("ListDiscoveredResources", "AWS::EC2::VPC", "vpc-1")
        );
        assert_eq!(
            t.position("ListDiscoveredResources", "AWS::EC2::VPC", &a)
                .unwrap(),
            "vpc-1"
        );
    }

    #[test]
    fn forged_edited_or_foreign_tokens_are_refused() {
        let t = tokens();
        let a = t.issue("ListDiscoveredResources", "AWS::EC2::VPC", "vpc-1");
        let code = |r: ApiResult<String>| r.unwrap_err().code;
        assert_eq!(
            code(t.position("ListDiscoveredResources", "AWS::EC2::Subnet", &a)),
            "InvalidNextTokenException"
        );
        assert_eq!(
            code(t.position("GetResourceConfigHistory", "AWS::EC2::VPC", &a)),
            "InvalidNextTokenException"
        );
        let forged = Tokens::with_key(&[8; 32]).unwrap().issue(
            "ListDiscoveredResources",
            "AWS::EC2::VPC",
            "vpc-9",
        );
        assert_eq!(
            code(t.position("ListDiscoveredResources", "AWS::EC2::VPC", &forged)),
            "InvalidNextTokenException"
        );
        let (b, m) = a.split_once('.').unwrap();
        let edited = format!("{}A.{m}", &b[..b.len() - 1]);
        assert_eq!(
            code(t.position("ListDiscoveredResources", "AWS::EC2::VPC", &edited)),
            "InvalidNextTokenException"
        );
        assert_eq!(
            code(t.position("ListDiscoveredResources", "AWS::EC2::VPC", "garbage")),
            "InvalidNextTokenException"
        );
        assert_eq!(
            code(t.position("ListDiscoveredResources", "AWS::EC2::VPC", "")),
            "InvalidNextTokenException"
        );
    }
}
