//! Result tokens: what an external evaluator hands back with PutEvaluations. Signed with a
//! key kept in the store (HMAC-SHA256 over the rule name and invocation time), so a token
//! is checked without keeping one record per invocation, survives restarts and cannot be
//! forged or moved to another rule.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a token is accepted after its invocation.
pub const TOKEN_LIFETIME_MS: i64 = 7 * 24 * 3_600_000;

/// Signs and checks result tokens.
pub struct Tokens {
    key: Vec<u8>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Tokens {
    /// With the store's key.
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, rule: &str, invoked_ms: i64) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(rule.as_bytes());
        m.update(&[0]);
        m.update(&invoked_ms.to_be_bytes());
        m.finalize().into_bytes().to_vec()
    }

    /// A token for one invocation of `rule`.
    pub fn issue(&self, rule: &str, invoked_ms: i64) -> String {
        format!(
            "{invoked_ms}.{}.{}",
            hex(rule.as_bytes()),
            hex(&self.mac(rule, invoked_ms))
        )
    }

    /// The rule and invocation time of a token this store issued, if it is genuine and
    /// not older than [`TOKEN_LIFETIME_MS`].
    pub fn check(&self, token: &str, now_ms: i64) -> Option<(String, i64)> {
        let mut it = token.splitn(3, '.');
        let invoked_ms: i64 = it.next()?.parse().ok()?;
        let rule = String::from_utf8(unhex(it.next()?)?).ok()?;
        let mac = unhex(it.next()?)?;
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).ok()?;
        m.update(rule.as_bytes());
        m.update(&[0]);
        m.update(&invoked_ms.to_be_bytes());
        m.verify_slice(&mac).ok()?;
        (now_ms - invoked_ms <= TOKEN_LIFETIME_MS).then_some((rule, invoked_ms))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn tokens_are_checked() {
        let t = Tokens::new(b"k".to_vec());
        let tok = t.issue("my rule", 1_000);
        assert_eq!(t.check(&tok, 2_000), Some(("my rule".into(), 1_000)));
        assert_eq!(Tokens::new(b"other".to_vec()).check(&tok, 2_000), None);
        let forged = tok.replacen(&hex(b"my rule"), &hex(b"another"), 1);
        assert_eq!(t.check(&forged, 2_000), None);
        assert_eq!(t.check("garbage", 2_000), None);
        assert_eq!(t.check(&tok, 1_000 + TOKEN_LIFETIME_MS + 1), None);
    }
}
