//! Human-readable output of query answers (NDJSON with `--json`).

use anyhow::Result;
use serde_json::Value;
use std::io::Write;

/// How answers are printed.
pub enum Mode {
    /// Items, one line each (or NDJSON).
    Items {
        /// NDJSON.
        json: bool,
    },
    /// One item as pretty JSON.
    Show,
    /// Inventory counts.
    Counts {
        /// JSON.
        json: bool,
    },
    /// A text diff.
    Diff,
    /// Reverse relationships.
    Related {
        /// NDJSON.
        json: bool,
    },
    /// Recorder status.
    Status {
        /// JSON.
        json: bool,
    },
    /// As received.
    Raw,
    /// `stats`: tables, or JSON.
    Stats {
        /// JSON.
        json: bool,
    },
    /// `audit`: one line per API call, or NDJSON.
    Audit {
        /// NDJSON.
        json: bool,
    },
    /// `sinks`: a table or JSON.
    Sinks {
        /// JSON instead of a table.
        json: bool,
    },
    /// A report: its `lines` for people, its `data` as JSON.
    Report {
        /// JSON.
        json: bool,
    },
}

/// Prints answers to stdout, line-buffered so `tail` shows items as they come.
pub struct Printer {
    mode: Mode,
    out: std::io::Stdout,
    count: u64,
}

/// Who made a change, in one phrase: the latest event's attribution (and how many more
/// events explained it), or AWS Config's words for a change no event explained.
fn changed_by(v: &Value) -> String {
    let by: Vec<driftlog_model::Attribution> =
        serde_json::from_value(v.clone()).unwrap_or_default();
    match by.last() {
        None => driftlog_model::FOUND_BY_POLL.to_string(),
        Some(a) if by.len() == 1 => a.describe(),
        Some(a) => format!("{} (+{} more events)", a.describe(), by.len() - 1),
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

impl Printer {
    /// A printer in `mode`.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            out: std::io::stdout(),
            count: 0,
        }
    }

    /// True when answers are printed exactly as they come (NDJSON modes), so a caller that
    /// already has the line can skip parsing it.
    pub fn passes_through(&self) -> bool {
        matches!(
            self.mode,
            Mode::Items { json: true } | Mode::Related { json: true } | Mode::Raw
        )
    }

    /// Prints one answer line as it came (see [`Printer::passes_through`]).
    ///
    /// # Errors
    /// Writing to stdout failed.
    pub fn print_line(&mut self, line: &str) -> Result<()> {
        self.count += 1;
        let mut o = self.out.lock();
        writeln!(o, "{line}")?;
        o.flush()?;
        Ok(())
    }

    /// Prints one answer, passing item lines through untouched in NDJSON modes.
    ///
    /// # Errors
    /// Writing to stdout failed.
    pub fn print_answer(&mut self, a: driftlog_server::protocol::Answer) -> Result<()> {
        match a {
            driftlog_server::protocol::Answer::Line(b) if self.passes_through() => {
                self.print_line(&String::from_utf8_lossy(&b))
            }
            a => self.print(&a.into_value()?),
        }
    }

    /// Prints one answer value.
    ///
    /// # Errors
    /// Writing to stdout failed (a closed pipe ends the command quietly).
    pub fn print(&mut self, v: &Value) -> Result<()> {
        self.count += 1;
        let mut o = self.out.lock();
        match &self.mode {
            Mode::Items { json: true }
            | Mode::Related { json: true }
            | Mode::Raw
            | Mode::Audit { json: true } => writeln!(o, "{v}")?,
            Mode::Report { json: true } => writeln!(o, "{}", v["data"])?,
            Mode::Report { json: false } => {
                for l in v["lines"].as_array().into_iter().flatten() {
                    writeln!(o, "{}", l.as_str().unwrap_or_default())?;
                }
            }
            Mode::Audit { json: false } => {
                let result = v.get("errorCode").and_then(Value::as_str).unwrap_or("OK");
                writeln!(
                    o,
                    "{}  #{:<6} {:<36} {:<22} {:<15} {}",
                    s(v, "eventTime"),
                    v["seq"],
                    s(v, "operation"),
                    s(v, "accessKey"),
                    s(v, "sourceIp"),
                    result
                )?;
            }
            Mode::Items { json: false } => {
                let ci = &v["configurationItem"];
                let diff = &v["configurationItemDiff"];
                let props: Vec<String> = diff["changedProperties"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, c)| format!("{k} {}", s(c, "changeType")))
                            .collect()
                    })
                    .unwrap_or_default();
                let name = ci["resourceName"]
                    .as_str()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                writeln!(
                    o,
                    "{}  #{:<7} {:<6} {} {}{}  {}/{}  v{}{}  — {}",
                    s(ci, "configurationItemCaptureTime"),
                    v["seq"].to_string(),
                    s(diff, "changeType"),
                    s(ci, "resourceType"),
                    s(ci, "resourceId"),
                    name,
                    s(ci, "awsAccountId"),
                    s(ci, "awsRegion"),
                    v["version"],
                    if props.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", props.join(", "))
                    },
                    changed_by(&v["changedBy"])
                )?
            }
            Mode::Show => writeln!(o, "{}", serde_json::to_string_pretty(v)?)?,
            Mode::Counts { json: true }
            | Mode::Status { json: true }
            | Mode::Sinks { json: true } => writeln!(o, "{v}")?,
            Mode::Sinks { json: false } => sinks_table(&mut o, v)?,
            Mode::Stats { json: true } => writeln!(o, "{v}")?,
            Mode::Stats { json: false } => stats_table(&mut o, v)?,
            Mode::Counts { json: false } => {
                writeln!(o, "Inventory at {}: {} resources", s(v, "at"), v["total"])?;
                if let Some(m) = v["counts"].as_object() {
                    for (ty, n) in m {
                        writeln!(o, "  {:>9}  {ty}", n.to_string())?;
                    }
                }
            }
            Mode::Diff => {
                writeln!(o, "{} v{} -> v{}", s(v, "resource"), v["v1"], v["v2"])?;
                if let Some(m) = v["changedProperties"].as_object() {
                    for (k, c) in m {
                        writeln!(o, "  {} {k}", s(c, "changeType"))?;
                    }
                }
                write!(o, "{}", s(v, "unifiedDiff"))?;
            }
            Mode::Related { json: false } => writeln!(
                o,
                "{} {}  {}/{}  \"{}\"",
                s(v, "resourceType"),
                s(v, "resourceId"),
                s(v, "accountId"),
                s(v, "awsRegion"),
                s(v, "relationshipName")
            )?,
            Mode::Status { json: false } => {
                writeln!(
                    o,
                    "server: {}  recording: {}  items: {} (oldest seq {})  resources: {} live, {} ever  disk: {:.1} MiB",
                    if v["running"].as_bool() == Some(true) { "running" } else { "not running" },
                    match (v["recording"].as_bool(), v["recordingFailure"].is_object()) {
                        (_, true) => "STOPPED by a failure (below)",
                        (Some(true), _) => "on",
                        (Some(false), _) => "off",
                        (None, _) => "never started",
                    },
                    v["watermark"],
                    v["oldestSeq"],
                    v["resources"],
                    v["resourcesEverSeen"],
                    v["bytesOnDisk"].as_f64().unwrap_or(0.0) / 1048576.0
                )?;
                if let Some(a) = v["apiAddress"].as_str() {
                    writeln!(
                        o,
                        "API: http://{a} (AWS Config API, gRPC, /v1/changes, /metrics)"
                    )?;
                }
                let f = &v["recordingFailure"];
                if f.is_object() {
                    writeln!(
                        o,
                        "recording stopped at {}: {}: {}\n  to resume: {}",
                        f["sinceMs"]
                            .as_i64()
                            .map_or_else(|| "-".into(), driftlog_model::time::iso_ms),
                        s(f, "code"),
                        s(f, "message"),
                        s(f, "remedy")
                    )?;
                }
                let e = &v["events"];
                if e.is_object() {
                    events_lines(&mut o, e)?;
                }
                let a = &v["aggregator"];
                if a.is_object() {
                    aggregator_lines(&mut o, a)?;
                }
                writeln!(
                    o,
                    "{:<14} {:<10} {:<28} {:>7} {:>7} {:<24} {:<24} ERROR",
                    "ACCOUNT", "REGION", "TYPE", "SEEN", "CHANGED", "LAST ATTEMPT", "LAST SUCCESS"
                )?;
                let t = |x: &Value| {
                    x.as_i64()
                        .map(driftlog_model::time::iso_ms)
                        .unwrap_or_else(|| "-".into())
                };
                for sc in v["scopes"].as_array().into_iter().flatten() {
                    let err = match (
                        sc["lastErrorCode"].as_str(),
                        sc["lastErrorMessage"].as_str(),
                    ) {
                        (Some(c), Some(m)) => format!("{c}: {m}"),
                        _ => "-".into(),
                    };
                    writeln!(
                        o,
                        "{:<14} {:<10} {:<28} {:>7} {:>7} {:<24} {:<24} {}",
                        s(sc, "account"),
                        s(sc, "region"),
                        s(sc, "resourceType"),
                        sc["resourcesSeen"].to_string(),
                        sc["lastChanges"].to_string(),
                        t(&sc["lastAttemptMs"]),
                        t(&sc["lastSuccessMs"]),
                        err
                    )?;
                }
            }
        }
        o.flush()?;
        Ok(())
    }

    /// Ends the output; says so when a listing was empty.
    ///
    /// # Errors
    /// Never in practice.
    pub fn finish(&mut self) -> Result<()> {
        if self.count == 0 {
            if let Mode::Items { json: false } | Mode::Related { json: false } = self.mode {
                eprintln!("(nothing matched)");
            }
        }
        Ok(())
    }
}

/// `driftlog status`'s aggregator lines: the stream, the counters, each source.
fn aggregator_lines(o: &mut impl Write, a: &Value) -> std::io::Result<()> {
    let n = |k: &str| a[k].as_u64().unwrap_or(0);
    let refused: u64 = a["refused"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    writeln!(
        o,
        "aggregator: stream {} consumer {} ({}); {} messages received, {} items applied, {} duplicates dropped, {} refused, {} gaps, {} resyncs; {} items recorded",
        s(a, "stream"),
        s(a, "consumer"),
        if a["connected"].as_bool() == Some(true) {
            "connected".to_string()
        } else {
            format!("not connected: {}", s(a, "lastError"))
        },
        n("received"),
        n("applied"),
        n("duplicates"),
        refused,
        n("gaps"),
        n("resyncs"),
        n("recorded"),
    )?;
    if let Some(r) = a["lastRefused"].as_str() {
        writeln!(o, "  last refused: {r}")?;
    }
    for src in a["sources"].as_array().into_iter().flatten() {
        let hb = &src["heartbeat"];
        writeln!(
            o,
            "  source {}: applied through seq {}{}{}",
            s(src, "recorder"),
            src["appliedSeq"].as_u64().unwrap_or(0),
            hb["watermark"]
                .as_u64()
                .map(|w| format!(" of {w} recorded there"))
                .unwrap_or_default(),
            src["gap"]
                .as_str()
                .map(|g| format!("; GAP: {g}"))
                .unwrap_or_default(),
        )?;
        if let Some(r) = src["resync"].as_str() {
            writeln!(o, "    resync: {r}")?;
        }
        if let Some(r) = src["lastResync"].as_str() {
            writeln!(
                o,
                "    resynced {} time(s), last {r}",
                src["resyncs"].as_u64().unwrap_or(0)
            )?;
        }
    }
    Ok(())
}

/// `driftlog status`'s event lines: flow, outcome, latency, what was left to the poll.
fn events_lines(o: &mut impl Write, e: &Value) -> std::io::Result<()> {
    let n = |k: &str| e[k].as_u64().unwrap_or(0);
    let ms = |k: &str| {
        e[k].as_f64()
            .map_or_else(|| "-".to_string(), |x| format!("{x:.0} ms"))
    };
    writeln!(
        o,
        "events ({}): {} received ({:.1}/s), {} resources recorded with who changed them, {} describes for {} resources; event → item p50 {} p99 {}",
        s(e, "feed"),
        n("events"),
        e["eventsPerSecond"].as_f64().unwrap_or(0.0),
        n("recorded"),
        n("describes"),
        n("keysDescribed"),
        ms("latencyP50Ms"),
        ms("latencyP99Ms"),
    )?;
    writeln!(
        o,
        "  queue: backlog {}, lag {}; read-only {}, failed calls {}, not recorded {}, left to the poll {}, poison {} (left for the dead-letter queue)",
        e["backlog"].as_u64().map_or_else(|| "-".into(), |b| b.to_string()),
        e["queueLagMs"].as_i64().map_or_else(|| "-".into(), |b| format!("{b} ms")),
        n("readOnly"),
        n("failedCalls"),
        n("notRecorded"),
        n("leftToPoll") + n("unresolved"),
        n("poison"),
    )?;
    if let Some(m) = e["unmappedByName"].as_object().filter(|m| !m.is_empty()) {
        let mut top: Vec<(&String, u64)> = m
            .iter()
            .map(|(k, c)| (k, c.as_u64().unwrap_or(0)))
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = top
            .iter()
            .take(5)
            .map(|(k, c)| format!("{k} ×{c}"))
            .collect();
        writeln!(
            o,
            "  unmapped write events (left to the poll): {} — {}",
            n("unmapped"),
            list.join(", ")
        )?;
    }
    Ok(())
}

fn sinks_table(o: &mut impl Write, v: &Value) -> std::io::Result<()> {
    let t = |x: &Value| {
        x.as_i64()
            .map(driftlog_model::time::iso_ms)
            .unwrap_or_else(|| "-".into())
    };
    let text = |x: &Value| x.as_str().unwrap_or("-").to_string();
    writeln!(
        o,
        "server: {}  log head: {}",
        if v["running"].as_bool() == Some(true) {
            "running"
        } else {
            "not running (last known state)"
        },
        v["watermark"]
    )?;
    let sinks = v["sinks"].as_array().cloned().unwrap_or_default();
    if sinks.is_empty() {
        writeln!(
            o,
            "no sinks: add [[sinks]] to the config file (see `driftlog config`)"
        )?;
    } else {
        writeln!(
            o,
            "{:<16} {:<8} {:<10} {:>9} {:>8} {:>9} {:<24} {:<40} ERROR",
            "SINK", "KIND", "STATE", "CURSOR", "LAG", "DELIVERED", "LAST SUCCESS", "TARGET"
        )?;
        for s in &sinks {
            writeln!(
                o,
                "{:<16} {:<8} {:<10} {:>9} {:>8} {:>9} {:<24} {:<40} {}",
                text(&s["name"]),
                text(&s["kind"]),
                text(&s["state"]),
                s["cursor"].to_string(),
                s["lag"].to_string(),
                s["delivered"].to_string(),
                t(&s["lastSuccessMs"]),
                text(&s["target"]),
                text(&s["lastError"])
            )?;
        }
    }
    let ch = &v["deliveryChannel"];
    if ch.is_null() {
        return writeln!(
            o,
            "delivery channel: none yet (delivery.enabled, or no server has run)"
        );
    }
    writeln!(
        o,
        "delivery channel {:?}: history delivered through seq {}, {} delivery event(s) queued for the topic",
        text(&ch["name"]),
        ch["historyThroughSeq"],
        ch["pendingEvents"]
    )?;
    for (label, k) in [
        ("history", "configHistoryDeliveryInfo"),
        ("snapshot", "configSnapshotDeliveryInfo"),
        ("stream", "configStreamDeliveryInfo"),
    ] {
        let i = &ch[k];
        let err = match (i["lastErrorCode"].as_str(), i["lastErrorMessage"].as_str()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            _ => "-".into(),
        };
        writeln!(
            o,
            "  {label:<9} {:<15} last attempt {:<24} last success {:<24} next {:<24} {err}",
            text(&i["lastStatus"]),
            t(&i["lastAttemptTime"]),
            t(&i["lastSuccessfulTime"]),
            t(&i["nextDeliveryTime"]),
        )?;
    }
    Ok(())
}

fn stats_table(o: &mut impl Write, v: &Value) -> Result<()> {
    writeln!(
        o,
        "{} items in {} h ({} .. {}): {} per hour",
        v["items"],
        v["hours"],
        s(v, "since"),
        s(v, "until"),
        v["itemsPerHour"]
    )?;
    // JSON values ignore width and alignment when displayed: every cell becomes a string
    // first, and columns are as wide as their widest cell.
    let num = |x: &Value| match x {
        Value::Null => "-".to_string(),
        Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    writeln!(o)?;
    table(
        o,
        &["RESOURCE TYPE", ">ITEMS", ">PER HOUR", ">SHARE"],
        v["types"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                vec![
                    s(t, "resourceType").to_string(),
                    num(&t["items"]),
                    num(&t["perHour"]),
                    format!("{}%", num(&t["percent"])),
                ]
            })
            .collect(),
    )?;
    writeln!(o)?;
    table(
        o,
        &["BUSIEST RESOURCES", ">ITEMS", ">PER HOUR"],
        v["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                vec![
                    s(r, "resource").to_string(),
                    num(&r["items"]),
                    num(&r["perHour"]),
                ]
            })
            .collect(),
    )?;
    if v["principals"].as_array().is_some_and(|p| !p.is_empty()) {
        writeln!(o)?;
        table(
            o,
            &[
                "WHO CHANGES THE MOST (from CloudTrail events)",
                ">ITEMS",
                ">PER HOUR",
                ">SHARE",
            ],
            v["principals"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    vec![
                        s(r, "principal").to_string(),
                        num(&r["items"]),
                        num(&r["perHour"]),
                        format!("{}%", num(&r["percent"])),
                    ]
                })
                .chain(std::iter::once(vec![
                    format!("({})", driftlog_model::FOUND_BY_POLL),
                    num(&v["itemsFoundByPoll"]),
                    String::new(),
                    String::new(),
                ]))
                .collect(),
        )?;
    }
    per_type_total(
        o,
        &v["volatileSuppressedSinceStart"],
        "volatile-only changes suppressed since the server started (no item written)",
        ">SUPPRESSED",
    )?;
    per_type_total(
        o,
        &v["dailySavedSinceStart"],
        "items DAILY recording saved since the server started (changes continuous recording would have written)",
        ">SAVED",
    )?;
    Ok(())
}

/// A per-type count the running server reports (absent offline): its total, then the
/// types that have some.
fn per_type_total(o: &mut impl Write, counts: &Value, title: &str, column: &str) -> Result<()> {
    let Some(m) = counts.as_object() else {
        return Ok(());
    };
    let total: u64 = m.values().filter_map(Value::as_u64).sum();
    writeln!(o, "\n{title}: {total}")?;
    let rows: Vec<Vec<String>> = m
        .iter()
        .filter_map(|(t, n)| {
            n.as_u64()
                .filter(|n| *n > 0)
                .map(|n| vec![format!("  {t}"), n.to_string()])
        })
        .collect();
    if !rows.is_empty() {
        table(o, &["  RESOURCE TYPE", column], rows)?;
    }
    Ok(())
}

/// A plain-text table: columns as wide as their widest cell, a header starting with `>`
/// right-aligned (numbers), one space between columns, no trailing spaces.
fn table(o: &mut impl Write, headers: &[&str], rows: Vec<Vec<String>>) -> Result<()> {
    let right: Vec<bool> = headers.iter().map(|h| h.starts_with('>')).collect();
    let heads: Vec<&str> = headers.iter().map(|h| h.trim_start_matches('>')).collect();
    let mut width: Vec<usize> = heads.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push(' ');
            }
            let pad = width[i].saturating_sub(c.chars().count());
            if right[i] {
                l.push_str(&" ".repeat(pad));
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(pad));
            }
        }
        l.trim_end().to_string()
    };
    writeln!(o, "{}", line(&heads))?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        writeln!(o, "{}", line(&cells))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Issue 13.4: every number ends under the end of its header.
    #[test]
    fn stats_columns_line_up_under_their_headers() {
        let v = json!({
            "items": 520, "hours": 24, "since": "a", "until": "b", "itemsPerHour": 21.7,
            "types": [
                {"resourceType": "AWS::EC2::Instance", "items": 460, "perHour": 19.2, "percent": 23.0},
                {"resourceType": "AWS::Config::ResourceCompliance", "items": 60000, "perHour": 2500.25, "percent": 7.5},
            ],
            "resources": [
                {"resource": "AWS::EC2::Instance/i-0123", "items": 12, "perHour": 0.5},
            ],
        });
        let mut out = Vec::new();
        stats_table(&mut out, &v).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .find(|l| l.starts_with("RESOURCE TYPE"))
            .unwrap();
        // Where a whole cell ends: the word as a column, not inside another word.
        let end_of = |line: &str, word: &str| {
            let padded = format!(" {word}");
            line.find(&padded).map_or(word.len(), |i| i + padded.len())
        };
        let row = lines
            .iter()
            .find(|l| l.starts_with("AWS::EC2::Instance "))
            .unwrap();
        assert_eq!(end_of(header, "ITEMS"), end_of(row, "460"), "{text}");
        assert_eq!(end_of(header, "PER HOUR"), end_of(row, "19.2"), "{text}");
        assert_eq!(end_of(header, "SHARE"), end_of(row, "23.0%"), "{text}");
        let long = lines
            .iter()
            .find(|l| l.starts_with("AWS::Config::ResourceCompliance"))
            .unwrap();
        assert_eq!(end_of(header, "ITEMS"), end_of(long, "60000"), "{text}");
        let busy = lines
            .iter()
            .find(|l| l.starts_with("BUSIEST RESOURCES"))
            .unwrap();
        let r = lines.iter().find(|l| l.contains("i-0123")).unwrap();
        assert_eq!(end_of(busy, "ITEMS"), end_of(r, "12"), "{text}");
    }
}
