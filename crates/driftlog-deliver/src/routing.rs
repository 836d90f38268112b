//! How a message is addressed and numbered on each kind of sink, so that receivers filter
//! on the server and drop duplicates of an at-least-once delivery.

use driftlog_model::ResourceKey;

/// The header (webhook, NATS) or message attribute (SNS) carrying the log sequence of the
/// item a message is about: receivers drop a sequence they have already seen.
pub const SEQ_HEADER: &str = "X-Driftlog-Seq";

/// JetStream's de-duplication header: a republished message with the same id inside the
/// stream's duplicate window is acknowledged but not stored twice.
pub const NATS_MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// The NATS subject of a change: `driftlog.ci.<account>.<region>.<type>`, so a consumer
/// filters on the server, e.g. `driftlog.ci.*.*.AWS::EC2::SecurityGroup`. Characters NATS
/// gives a meaning to in a token (`.`, `*`, `>`, whitespace) are replaced by `_`.
pub fn nats_subject(key: &ResourceKey) -> String {
    let token = |s: &str| -> String {
        let t: String = s
            .chars()
            .map(|c| match c {
                '.' | '*' | '>' => '_',
                c if c.is_whitespace() => '_',
                c => c,
            })
            .collect();
        if t.is_empty() {
            "_".to_string()
        } else {
            t
        }
    };
    format!(
        "driftlog.ci.{}.{}.{}",
        token(&key.account),
        token(&key.region),
        token(&key.resource_type)
    )
}

/// The message id of an item for de-duplicating receivers: its log sequence.
pub fn message_id(seq: u64) -> String {
    seq.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_filterable_tokens() {
        let k = ResourceKey::new(
            "111122223333",
            "eu-west-1",
            "AWS::EC2::SecurityGroup",
            "sg-1",
        );
        assert_eq!(
            nats_subject(&k),
            "driftlog.ci.111122223333.eu-west-1.AWS::EC2::SecurityGroup"
        );
        let odd = ResourceKey::new("a.b", "", "X::Y*>", "id");
        assert_eq!(nats_subject(&odd), "driftlog.ci.a_b._.X::Y__");
        assert_eq!(message_id(42), "42");
    }
}
