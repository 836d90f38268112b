//! The query socket of `serve`: one JSON request line per connection, NDJSON answer lines;
//! a durable tail reads `ack <seq>` lines back. Every connection is a tracked task that
//! ends when the server stops.

use crate::error::{Context, Result};
use crate::protocol::{changed_by, item_answer, tail_start, Request, TailArgs, TailFrom};
use crate::query::execute;
use crate::services::{Reach, Services};
use crate::stop::wait_stop;
use driftlog_log::Log;
use driftlog_subscribe::subscribe;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_util::task::TaskTracker;

/// Accepts query connections until `stop`, each a task on `tracker`.
pub(crate) async fn accept(
    listener: UnixListener,
    services: Arc<Services>,
    stop: watch::Receiver<bool>,
    tracker: TaskTracker,
) {
    let reach = Arc::new(Reach::Server(services));
    let stopped = wait_stop(stop.clone());
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => break,
            c = listener.accept() => match c {
                Ok((stream, _)) => {
                    let reach = reach.clone();
                    let stop = stop.clone();
                    tracker.spawn(async move {
                        if let Err(e) = handle(reach, stream, stop).await {
                            tracing::debug!(error = %e, "Query connection ended.");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "Query socket accept failed.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// One query connection: a JSON request line, NDJSON answer lines; for a durable tail, the
/// client sends `ack <seq>` lines back after it has handled each item.
async fn handle(b: Arc<Reach>, stream: UnixStream, stop: watch::Receiver<bool>) -> Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    // One request line, at most 1 MiB, within 30 s: a stray client cannot pin a task.
    let mut first = Vec::new();
    let stopped = wait_stop(stop);
    tokio::pin!(stopped);
    let mut limited = (&mut reader).take(1 << 20);
    let read = tokio::select! {
        () = &mut stopped => return Ok(()),
        r = tokio::time::timeout(
            Duration::from_secs(30),
            limited.read_until(b'\n', &mut first),
        ) => r,
    };
    if !matches!(read, Ok(Ok(n)) if n > 0 && first.ends_with(b"\n")) {
        let msg =
            json!({"error": "bad request: expected one JSON line (at most 1 MiB) within 30 s"});
        let _ = wr.write_all((msg.to_string() + "\n").as_bytes()).await;
        return Ok(());
    }
    let line = String::from_utf8_lossy(&first).into_owned();
    let mut lines = reader.lines();
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let msg = json!({"error": format!("bad request: {e}")}).to_string() + "\n";
            wr.write_all(msg.as_bytes()).await?;
            return Ok(());
        }
    };
    if let Request::Tail(TailArgs {
        filter,
        from,
        durable,
        limit,
        by,
        ..
    }) = req
    {
        let durable_name = durable.clone();
        let sub = match open_tail(b.log(), &filter, &from, durable) {
            Ok(s) => s,
            Err(e) => {
                let msg = json!({"error": crate::report(&e), "code": e.code()}).to_string();
                wr.write_all((msg + "\n").as_bytes()).await?;
                return Ok(());
            }
        };
        let driftlog_subscribe::Subscription { mut stream, .. } = sub;
        let acker = DurableAcker {
            log: b.log().clone(),
            name: durable_name,
        };
        let mut sent = 0u64;
        loop {
            tokio::select! {
                // Acks first: what the client has handled is stored before more is sent.
                biased;
                () = &mut stopped => break,
                l = lines.next_line() => match l? {
                    Some(l) => acker.ack_line(&l)?,
                    None => return Ok(()), // Client left.
                },
                item = stream.next() => {
                    let Some(item) = item else { break };
                    if item.as_ref().is_ok_and(|ci| !changed_by(&by, ci)) {
                        continue;
                    }
                    let (mut line, is_err) = match item.map_err(crate::Error::from).and_then(|ci| item_answer(&ci)?.into_line()) {
                        Ok(line) => (line, false),
                        Err(e) => (json!({"error": crate::report(&e)}).to_string().into_bytes(), true),
                    };
                    line.push(b'\n');
                    if wr.write_all(&line).await.is_err() {
                        break; // Client gone: still read the acks it sent.
                    }
                    sent += 1;
                    if is_err || limit.is_some_and(|l| sent >= l) { break }
                }
            }
        }
        let _ = wr.shutdown().await;
        // Read the remaining acks until the client closes (or the server stops: a client
        // that never closes must not hold the shutdown).
        loop {
            tokio::select! {
                () = &mut stopped => break,
                l = lines.next_line() => match l {
                    Ok(Some(l)) => acker.ack_line(&l)?,
                    _ => break,
                },
            }
        }
        return Ok(());
    }
    // Answer from a blocking thread writing straight to the socket: a slow reader slows
    // the answer down instead of making us buffer it (an inventory can be millions of lines).
    let stream = lines
        .into_inner()
        .into_inner()
        .reunite(wr)
        .context("query socket")?
        .into_std()?;
    stream.set_nonblocking(false)?;
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut w = std::io::BufWriter::new(stream);
        let mut broken = false;
        let r = rt.block_on(execute(&b, req, &mut |a| {
            broken = match a.into_line() {
                Ok(line) => w
                    .write_all(&line)
                    .and_then(|()| w.write_all(b"\n"))
                    .is_err(),
                Err(_) => false,
            };
            !broken
        }));
        if let Err(e) = r {
            writeln!(
                w,
                "{}",
                json!({"error": crate::report(&e), "code": e.code()})
            )?;
        }
        w.flush()?;
        Ok(())
    })
    .await??;
    Ok(())
}

/// The subscription a tail request asks for.
fn open_tail(
    log: &Arc<Log>,
    filter: &crate::protocol::FilterSpec,
    from: &str,
    durable: Option<String>,
) -> Result<driftlog_subscribe::Subscription> {
    let from = TailFrom::parse(from, driftlog_model::time::now_ms())?;
    // A start the log cannot serve (SnapshotRequired) is said as the log says it.
    subscribe(log.clone(), filter.to_filter()?, tail_start(from, durable))
        .map_err(crate::Error::invalid)
}

struct DurableAcker {
    log: Arc<Log>,
    name: Option<String>,
}

impl DurableAcker {
    fn ack_line(&self, line: &str) -> Result<()> {
        if let (Some(name), Some(seq)) = (&self.name, line.strip_prefix("ack ")) {
            let seq: u64 = seq.trim().parse().context("bad ack line")?;
            // Never past what was published: an ack from the future would skip items.
            self.log.set_cursor(name, seq.min(self.log.watermark()))?;
        }
        Ok(())
    }
}
