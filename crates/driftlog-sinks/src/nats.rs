//! NATS JetStream: each change published on `driftlog.ci.<account>.<region>.<type>` into a
//! stream, acknowledged by JetStream before the cursor moves.

use crate::{Message, SendError, Transport};
use async_nats::jetstream::{self, context::PublishAckFuture, stream};
use driftlog_deliver::{
    message_id, nats_subject, snapshot_message_id, CHUNK_HEADER, LOG_HEADER, NATS_MSG_ID_HEADER,
    RECORDER_HEADER, SEQ_HEADER, SNAPSHOT_HEADER,
};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Mutex;

/// Room left in a message for its headers when an item is cut into parts.
const HEADER_ROOM: usize = 4096;

/// How to reach a NATS server: its URL and, where it asks for them, credentials and TLS.
/// Shared by the sink, the heartbeats and the aggregator's consumer.
#[derive(Debug, Clone, Default)]
pub struct NatsConnect {
    /// `nats://host:4222` (or `tls://host:4222`).
    pub url: String,
    /// User and password.
    pub user: Option<(String, String)>,
    /// A token.
    pub token: Option<String>,
    /// An nkey seed (`SU…`): the server knows the public key.
    pub nkey_seed: Option<String>,
    /// A `.creds` file (JWT and nkey seed), as `nsc` writes it.
    pub credentials_file: Option<PathBuf>,
    /// CA certificates (PEM) the server's certificate must chain to.
    pub tls_ca: Option<PathBuf>,
    /// Refuse a connection without TLS.
    pub tls_required: bool,
    /// Bounds the connection.
    pub timeout: Duration,
}

impl NatsConnect {
    /// A server at `url`, no credentials, `timeout` for the connection.
    pub fn new(url: &str, timeout: Duration) -> Self {
        Self {
            url: url.to_string(),
            timeout,
            ..Self::default()
        }
    }

    /// Connects.
    ///
    /// # Errors
    /// The server cannot be reached, refused the credentials, or a file cannot be read:
    /// what happened, with the URL.
    pub async fn connect(&self) -> Result<async_nats::Client, String> {
        let mut o = async_nats::ConnectOptions::new()
            .connection_timeout(self.timeout)
            .require_tls(self.tls_required);
        if let Some((u, p)) = &self.user {
            o = o.user_and_password(u.clone(), p.clone());
        }
        if let Some(t) = &self.token {
            o = o.token(t.clone());
        }
        if let Some(seed) = &self.nkey_seed {
            o = o.nkey(seed.clone());
        }
        if let Some(f) = &self.credentials_file {
            o = o
                .credentials_file(f)
                .await
                .map_err(|e| format!("nats credentials file {}: {e}", f.display()))?;
        }
        if let Some(ca) = &self.tls_ca {
            o = o.add_root_certificates(ca.clone());
        }
        o.connect(self.url.as_str())
            .await
            .map_err(|e| format!("nats {}: {e}", self.url))
    }
}

/// What a message body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFormat {
    /// AWS Config's notifications (what any AWS Config consumer reads).
    #[default]
    Aws,
    /// driftlog's item (the `tail --json` line): what an aggregator reads. Every item is
    /// published, in order, cut into parts where it exceeds the server's message limit.
    Item,
}

/// How many publishes may wait for their acknowledgement at once, well under the client's
/// in-flight limit (5,000).
const ACK_WINDOW: usize = 2048;

/// Awaits one item's acknowledgements (one per part).
async fn confirmed(acks: Vec<PublishAckFuture>) -> Result<(), SendError> {
    for ack in acks {
        ack.await
            .map_err(|e| SendError::new("NotAcknowledged", format!("nats: {e}")))?;
    }
    Ok(())
}

/// The subjects driftlog's stream captures.
pub const STREAM_SUBJECTS: &str = "driftlog.ci.>";

/// A JetStream stream on a NATS server. Connects on first use and again after any failure,
/// and creates the stream if it is missing (file storage, de-duplication on
/// `Nats-Msg-Id` = the log sequence). Consumers filter by subject; with a 2.9 server, one
/// `filter_subject` per consumer (`filter_subjects` is silently ignored there).
pub struct NatsTransport {
    connect: NatsConnect,
    stream: String,
    timeout: Duration,
    recorder: String,
    log: String,
    /// The connection and the server's largest message.
    context: Mutex<Option<(jetstream::Context, usize)>>,
}

impl NatsTransport {
    /// A sink to `url` (`nats://host:4222`) into the stream `stream`; `timeout` bounds the
    /// connection and each acknowledgement.
    ///
    /// # Errors
    /// A stream name NATS would refuse.
    pub fn new(url: &str, stream: &str, timeout: Duration) -> Result<Self, String> {
        if stream.is_empty()
            || stream
                .chars()
                .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace())
        {
            return Err(format!(
                "nats stream name {stream:?} must be non-empty without '.', '*', '>' or spaces"
            ));
        }
        Ok(Self {
            connect: NatsConnect::new(url, timeout),
            stream: stream.to_string(),
            timeout,
            recorder: String::new(),
            log: String::new(),
            context: Mutex::new(None),
        })
    }

    /// Connects with these options (credentials, TLS) instead of the URL alone.
    #[must_use]
    pub fn with_connect(mut self, connect: NatsConnect) -> Self {
        self.connect = connect;
        self
    }

    /// Names the publisher on every message (headers `Driftlog-Recorder`, `Driftlog-Log`)
    /// and in its de-duplication id, so one stream can carry many recorders.
    #[must_use]
    pub fn with_publisher(mut self, recorder: &str, log: &str) -> Self {
        recorder.clone_into(&mut self.recorder);
        log.clone_into(&mut self.log);
        self
    }

    /// The publishing recorder's id ("" when unnamed).
    pub fn recorder(&self) -> &str {
        &self.recorder
    }

    /// How it reaches the server.
    pub fn connection(&self) -> &NatsConnect {
        &self.connect
    }

    /// Publishes one message as it is and waits for JetStream's acknowledgement. `before`
    /// runs first, under the lock every publish of this transport takes: what it reads is
    /// older than anything published after this message.
    pub(crate) async fn publish_raw<R>(
        &self,
        before: impl FnOnce() -> R,
        message: impl FnOnce(&R) -> (String, async_nats::HeaderMap, bytes::Bytes),
    ) -> Result<R, SendError> {
        let mut guard = self.context.lock().await;
        let (js, _) = match guard.as_ref() {
            Some(c) => c.clone(),
            None => {
                let c = self.connect().await?;
                *guard = Some(c.clone());
                c
            }
        };
        let read = before();
        let (subject, headers, body) = message(&read);
        let r = match js.publish_with_headers(subject, headers, body).await {
            Ok(ack) => ack
                .await
                .map(|_| ())
                .map_err(|e| SendError::new("NotAcknowledged", format!("nats: {e}"))),
            Err(e) => Err(SendError::new("PublishFailed", format!("nats: {e}"))),
        };
        if r.is_err() {
            *guard = None;
        }
        r.map(|()| read)
    }

    async fn connect(&self) -> Result<(jetstream::Context, usize), SendError> {
        let client = self
            .connect
            .connect()
            .await
            .map_err(|e| SendError::new("Unreachable", e))?;
        let max_payload = client.server_info().max_payload;
        let mut js = jetstream::new(client);
        js.set_timeout(self.timeout);
        js.get_or_create_stream(stream::Config {
            name: self.stream.clone(),
            subjects: vec![STREAM_SUBJECTS.to_string()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| {
            SendError::new(
                "StreamUnavailable",
                format!("nats {} stream {}: {e}", self.connect.url, self.stream),
            )
        })?;
        Ok((js, max_payload))
    }

    /// The messages one item travels in: itself, or parts of at most the server's message
    /// size (headers included), each with its part number.
    /// A message of a snapshot (`snapshot` = its id) carries the snapshot header and an id
    /// of its own.
    fn parts(
        &self,
        m: &Message,
        max_payload: usize,
        snapshot: Option<&str>,
    ) -> Vec<(async_nats::HeaderMap, bytes::Bytes)> {
        let headers = |id: &str| {
            let mut h = async_nats::HeaderMap::new();
            h.insert(NATS_MSG_ID_HEADER, id);
            h.insert(SEQ_HEADER, m.seq.to_string().as_str());
            if !self.recorder.is_empty() {
                h.insert(RECORDER_HEADER, self.recorder.as_str());
                h.insert(LOG_HEADER, self.log.as_str());
            }
            if let Some(s) = snapshot {
                h.insert(SNAPSHOT_HEADER, s);
            }
            h
        };
        let id = match snapshot {
            Some(s) => snapshot_message_id(&self.recorder, s, m.seq),
            None => message_id(&self.recorder, m.seq),
        };
        let body = bytes::Bytes::from(m.body.clone());
        let room = max_payload.saturating_sub(HEADER_ROOM).max(1024);
        if body.len() <= room {
            return vec![(headers(&id), body)];
        }
        let n = body.len().div_ceil(room);
        (0..n)
            .map(|i| {
                let mut h = headers(&format!("{id}:{}", i + 1));
                h.insert(CHUNK_HEADER, format!("{}/{n}", i + 1).as_str());
                let end = ((i + 1) * room).min(body.len());
                (h, body.slice(i * room..end))
            })
            .collect()
    }
}

impl Transport for NatsTransport {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn target(&self) -> String {
        format!("{} stream {}", self.connect.url, self.stream)
    }

    async fn send<'a>(&'a self, batch: &'a [Message]) -> Result<(), SendError> {
        self.publish(batch, None).await
    }
}

impl NatsTransport {
    /// Publishes `batch` in order, each item acknowledged by JetStream; as part of the
    /// snapshot `snapshot` when given.
    pub(crate) async fn publish(
        &self,
        batch: &[Message],
        snapshot: Option<&str>,
    ) -> Result<(), SendError> {
        let mut guard = self.context.lock().await;
        let (js, max_payload) = match guard.as_ref() {
            Some(c) => c.clone(),
            None => {
                let c = self.connect().await?;
                *guard = Some(c.clone());
                c
            }
        };
        // A window of publishes in flight: each item's acknowledgements are awaited once
        // the window is full (oldest first), so publishing never stops for a round trip,
        // and never holds more acknowledgements than JetStream's client allows (it blocks
        // publishing past its limit, which would never resolve while we hold them).
        let mut inflight: VecDeque<Vec<PublishAckFuture>> = VecDeque::new();
        let mut parts_inflight = 0;
        let mut done = 0;
        for m in batch {
            let parts = self.parts(m, max_payload, snapshot);
            while parts_inflight > 0 && parts_inflight + parts.len() > ACK_WINDOW {
                let Some(acks) = inflight.pop_front() else {
                    break;
                };
                parts_inflight -= acks.len();
                if let Err(e) = confirmed(acks).await {
                    *guard = None;
                    return Err(e.after(done));
                }
                done += 1;
            }
            let mut mine = Vec::with_capacity(parts.len());
            for (headers, body) in parts {
                match js
                    .publish_with_headers(nats_subject(&m.key), headers, body)
                    .await
                {
                    Ok(ack) => mine.push(ack),
                    Err(e) => {
                        // Even after a failed publish, those already published may be
                        // acknowledged: the cursor moves exactly past the consecutive
                        // acknowledged items (all their parts), never past one JetStream
                        // did not confirm.
                        let failure = SendError::new("PublishFailed", format!("nats: {e}"));
                        for acks in inflight {
                            if confirmed(acks).await.is_err() {
                                break;
                            }
                            done += 1;
                        }
                        *guard = None;
                        return Err(failure.after(done));
                    }
                }
            }
            parts_inflight += mine.len();
            inflight.push_back(mine);
        }
        for acks in inflight {
            if let Err(e) = confirmed(acks).await {
                *guard = None;
                return Err(e.after(done));
            }
            done += 1;
        }
        Ok(())
    }
}

/// Publishes `make()` on `subject` (core NATS: a heartbeat is news, not history) every
/// `every` until `stop` turns true, connecting again after any failure.
pub async fn run_heartbeats(
    connect: NatsConnect,
    subject: String,
    every: Duration,
    make: impl Fn() -> Vec<u8> + Send + 'static,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut client: Option<async_nats::Client> = None;
    let mut iv = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = iv.tick() => {}
        }
        if *stop.borrow() {
            break;
        }
        if client.is_none() {
            match connect.connect().await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::debug!(error = %e, "Heartbeat: NATS unreachable; trying again.");
                    continue;
                }
            }
        }
        if let Some(c) = &client {
            let sent = c.publish(subject.clone(), make().into()).await;
            if sent.is_err() || c.flush().await.is_err() {
                client = None;
            }
        }
    }
}
