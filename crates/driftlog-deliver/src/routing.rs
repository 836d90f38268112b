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
    format!(
        "driftlog.ci.{}.{}.{}",
        subject_token(&key.account),
        subject_token(&key.region),
        subject_token(&key.resource_type)
    )
}

/// The message id of an item for de-duplicating receivers: its log sequence, after the
/// publishing recorder's id when there is one — one stream carries many recorders, whose
/// sequences overlap.
pub fn message_id(recorder: &str, seq: u64) -> String {
    if recorder.is_empty() {
        seq.to_string()
    } else {
        format!("{recorder}:{seq}")
    }
}

/// The header naming the recorder that published a message (its stable id).
pub const RECORDER_HEADER: &str = "Driftlog-Recorder";

/// The header naming the store the published sequence belongs to (the store's log
/// id): a recorder whose store was replaced starts its sequences again under a new one.
pub const LOG_HEADER: &str = "Driftlog-Log";

/// The header of a message that is one part of an item too large for one NATS message:
/// `<part>/<parts>`, parts numbered from 1, published in order under the item's sequence.
pub const CHUNK_HEADER: &str = "Driftlog-Chunk";

/// The message id of one part of a chunked item.
pub fn chunk_message_id(recorder: &str, seq: u64, part: usize) -> String {
    format!("{}:{part}", message_id(recorder, seq))
}

/// Where recorders announce themselves (core NATS, not stored): `driftlog.heartbeat.<id>`.
pub const HEARTBEAT_SUBJECTS: &str = "driftlog.heartbeat.*";

/// The heartbeat subject of a recorder.
pub fn heartbeat_subject(recorder: &str) -> String {
    format!("driftlog.heartbeat.{}", subject_token(recorder))
}

/// Where an aggregator asks a recorder to publish a snapshot (core NATS; the snapshot comes
/// in the stream, see `resync`): `driftlog.resync.<id>`.
pub fn resync_subject(recorder: &str) -> String {
    format!("driftlog.resync.{}", subject_token(recorder))
}

/// Whether a recorder id can be one subject token and a header value: letters, digits,
/// `-` and `_`, 1 to 64 of them.
pub fn valid_recorder_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Splits a subject `driftlog.ci.<account>.<region>.<type>` into its three tokens.
pub fn parse_item_subject(subject: &str) -> Option<(&str, &str, &str)> {
    let rest = subject.strip_prefix("driftlog.ci.")?;
    let mut parts = rest.splitn(3, '.');
    let (a, r, t) = (parts.next()?, parts.next()?, parts.next()?);
    (!t.contains('.')).then_some((a, r, t))
}

/// One subject token: characters NATS gives a meaning to replaced by `_`.
pub(crate) fn subject_token(s: &str) -> String {
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
        assert_eq!(message_id("", 42), "42");
        assert_eq!(message_id("rec-1", 42), "rec-1:42");
        assert_eq!(chunk_message_id("rec-1", 42, 2), "rec-1:42:2");
        assert_eq!(
            parse_item_subject("driftlog.ci.111122223333.eu-west-1.AWS::EC2::SecurityGroup"),
            Some(("111122223333", "eu-west-1", "AWS::EC2::SecurityGroup"))
        );
        assert_eq!(parse_item_subject("driftlog.ci.a.b"), None);
        assert_eq!(heartbeat_subject("rec.1"), "driftlog.heartbeat.rec_1");
        assert!(valid_recorder_id("eu-accounts_1"));
        assert!(!valid_recorder_id("a.b") && !valid_recorder_id(""));
    }
}
