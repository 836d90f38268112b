//! The CLI side of the query protocol: against a running `serve` over its Unix socket, or
//! a local tail on a store nobody else holds.

use crate::render::Printer;
use anyhow::{bail, Context, Result};
use driftlog_log::Log;
use driftlog_server::protocol::{changed_by, item_answer, FilterSpec, Request, TailArgs};
use driftlog_subscribe::{Reader, Start};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

/// Sends `req` to the server and prints every answer line. For a durable tail, each item is
/// acknowledged only after it was printed.
pub fn remote(stream: UnixStream, req: &Request, printer: &mut Printer) -> Result<()> {
    let mut w = stream.try_clone().context("query socket")?;
    let line = serde_json::to_string(req)? + "\n";
    w.write_all(line.as_bytes()).context("sending request")?;
    let durable = matches!(
        req,
        Request::Tail(TailArgs {
            durable: Some(_),
            ..
        })
    );
    /// Just the fields the client acts on, so NDJSON passes through without being rebuilt.
    #[derive(serde::Deserialize)]
    struct Head {
        error: Option<String>,
        code: Option<String>,
        seq: Option<u64>,
    }
    // A tail has no end of its own (but its --limit): the stream closing means the server
    // went away, which the user must hear of.
    let tail_limit = match req {
        Request::Tail(t) => Some(t.limit),
        _ => None,
    };
    let mut printed = 0u64;
    for line in BufReader::new(stream).lines() {
        let line = line.context("reading answer")?;
        printed += 1;
        let head: Head = serde_json::from_str(&line).context("bad answer line")?;
        if let Some(e) = head.error {
            if head.code.as_deref() == Some("NotRunning") {
                return Err(driftlog_server::Error::NotRunning(e).into());
            }
            bail!("{e}");
        }
        if printer.passes_through() {
            printer.print_line(&line)?;
        } else {
            let v: serde_json::Value = serde_json::from_str(&line).context("bad answer line")?;
            printer.print(&v)?;
        }
        if durable {
            if let Some(seq) = head.seq {
                w.write_all(format!("ack {seq}\n").as_bytes())?;
            }
        }
    }
    printer.finish()?;
    if let Some(limit) = tail_limit {
        if limit.is_none_or(|l| printed < l) {
            bail!(
                "the server ended the tail after {printed} items (it stopped or restarted); run tail again — with --durable NAME it resumes right after the last item printed"
            );
        }
    }
    Ok(())
}

/// Tails a store opened by this process (no server running, so nothing new will come):
/// prints what the log holds after the start and exits. Read through the house's one cursor
/// loop: a durable cursor moves past each item printed, so a later tail of the same name
/// resumes after what was printed.
pub async fn local_tail(
    log: Arc<Log>,
    filter: FilterSpec,
    by: &[String],
    start: Start,
    limit: Option<u64>,
    printer: &mut Printer,
) -> Result<()> {
    let mut reader = Reader::open(log, filter.to_filter()?, start)?;
    let mut n = 0;
    while let Some(batch) = reader.read().await? {
        for ci in &batch.items {
            if !changed_by(by, ci) {
                reader.ack(ci.seq)?;
                continue;
            }
            printer.print_answer(item_answer(ci)?)?;
            reader.ack(ci.seq)?;
            n += 1;
            if limit.is_some_and(|l| n >= l) {
                return printer.finish();
            }
        }
    }
    printer.finish()
}
