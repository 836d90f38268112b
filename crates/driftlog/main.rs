//! `driftlog`: records how a cloud estate changes over time.
//!
//! The binary is thin: clap parsing, tracing setup, exit codes and rendering. `serve` binds
//! the listeners and hands them to [`driftlog_server::serve`] with Ctrl-C as its shutdown;
//! every query subcommand is a [`Request`] of the server's protocol, sent to a running
//! `serve` over its socket ([`client`]) or answered over the store itself. It is the only
//! user of `anyhow`.

mod bench;
mod bench_aggregate;
mod client;
mod grpc_client;
mod render;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use driftlog_server::config::{self, Config};
use driftlog_server::protocol::{Request, RulesRequest, TailArgs, TailFrom};
use driftlog_server::{Listeners, Offline, Reach};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: the recorder allocates many small, short-lived buffers from several threads,
/// where glibc's allocator spent a third of the time (measured with perf on `bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A usage error: a bad option or value (clap's own code).
const EXIT_USAGE: u8 = 2;
/// The command needs a running `serve` (or a store) and there is none.
const EXIT_NOT_RUNNING: u8 = 3;

/// driftlog records how a cloud estate changes: it polls, diffs each complete snapshot
/// against the last recorded state, and appends versioned configuration items (AWS Config's
/// format, with field-level diffs) to an append-only log you can tail, query and replay.
///
/// Start with `driftlog serve` (a simulated AWS estate, data in ./driftlog-data), then in
/// another terminal `driftlog tail --type 'AWS::EC2::SecurityGroup'`.
///
/// Times accept RFC 3339 (2024-05-01T10:00:00Z), epoch seconds, `now`, or relative forms
/// (-90s, -30m, -2h, -7d). Resources are TYPE/ID (AWS::EC2::SecurityGroup/sg-0a1b...) or
/// ACCOUNT/REGION/TYPE/ID when an id is not unique.
#[derive(Parser)]
#[command(
    name = "driftlog",
    version,
    max_term_width = 100,
    after_help = "Exit status: 0 done; 1 failed (the error says why and what to do); 2 usage error \
                  (a bad option or value); 3 no `driftlog serve` is running (or no store exists) \
                  where the command needs one."
)]
struct Cli {
    /// Configuration file (TOML). `driftlog config` prints every option with its default.
    #[arg(long, short, global = true, env = "DRIFTLOG_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the config).
    #[arg(long, global = true, env = "DRIFTLOG_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// More detail on stderr: -v adds the AWS SDK's own warnings (credential lookups,
    /// retries) and every component's progress, -vv debug detail. DRIFTLOG_LOG (or
    /// RUST_LOG), e.g. `aws_config=debug`, picks modules exactly.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the recorder (default source: the simulated estate) and the query socket.
    ///
    /// Examples: `driftlog serve` (a simulated estate), `driftlog serve --source aws
    /// --region eu-west-1 --profile audit` (a real AWS account, read-only; see README
    /// "Record your AWS account" for the IAM policy), `driftlog serve --source aws --region
    /// us-east-1 --endpoint-url http://127.0.0.1:5000` (moto or LocalStack).
    Serve(ServeArgs),
    #[command(flatten)]
    Query(Request),
    /// Measure the hot paths on a simulated estate and print a table.
    Bench(bench::BenchArgs),
    /// Print the configuration file with every option and its default.
    Config,
}

/// `driftlog serve`'s options: each overrides its key of the config file.
#[derive(clap::Args)]
struct ServeArgs {
    /// Simulated estate size (overrides source.sim.resources).
    #[arg(long)]
    resources: Option<usize>,
    /// Simulated churn per tick, 0.0..1.0 (overrides source.sim.churn).
    #[arg(long)]
    churn: Option<f64>,
    /// Seed of the simulated estate.
    #[arg(long)]
    seed: Option<u64>,
    /// Poll interval, e.g. 10s (overrides recorder.interval).
    #[arg(long, value_parser = config::parse_duration)]
    interval: Option<std::time::Duration>,
    /// Simulated estate tick, e.g. 5s (overrides source.sim.tick_interval).
    #[arg(long, value_parser = config::parse_duration)]
    tick: Option<std::time::Duration>,
    /// Where resources come from: `sim` or `aws` (overrides source.kind).
    #[arg(long, value_parser = ["sim", "aws"])]
    source: Option<String>,
    /// AWS region to record, repeatable, or `all` (overrides source.aws.regions).
    #[arg(long = "region")]
    regions: Vec<String>,
    /// AWS named profile (overrides source.aws.profile).
    #[arg(long)]
    profile: Option<String>,
    /// Endpoint URL for every AWS service, e.g. moto or LocalStack (overrides
    /// source.aws.endpoints.all).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Address of the AWS Config API, e.g. 127.0.0.1:7440, or "off" (overrides api.listen).
    #[arg(long)]
    listen: Option<String>,
    /// Run as the aggregator of many recorders: no polls; record what the recorders'
    /// NATS item sinks publish to the stream of `[aggregator]` (sets aggregator.enabled).
    #[arg(long)]
    aggregator: bool,
    /// NATS server of the aggregator, e.g. nats://127.0.0.1:4222 (overrides
    /// aggregator.url; implies --aggregator).
    #[arg(long)]
    nats_url: Option<String>,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

fn load_config(cli: &Cli) -> Result<Config> {
    let mut cfg = match &cli.config {
        Some(p) => Config::load(p)?,
        None if std::path::Path::new("driftlog.toml").exists() => {
            Config::load(std::path::Path::new("driftlog.toml"))?
        }
        None => Config::default(),
    };
    if let Some(d) = &cli.data_dir {
        cfg.data_dir = d.clone();
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = matches!(&cli.cmd, Cmd::Serve(s) if !s.quiet);
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(cli.verbose, progress))
        .with_target(cli.verbose > 0)
        // Colours for a terminal only: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", report(&e));
            exit_code(&e)
        }
    }
}

/// The exit status of a failure (documented in `--help`).
fn exit_code(e: &anyhow::Error) -> ExitCode {
    let not_running = e.chain().any(|c| {
        c.downcast_ref::<driftlog_server::Error>()
            .is_some_and(driftlog_server::Error::is_not_running)
    });
    if not_running {
        ExitCode::from(EXIT_NOT_RUNNING)
    } else if e.downcast_ref::<UsageError>().is_some() {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::FAILURE
    }
}

/// A command-line value refused after parsing (e.g. `--churn 2`): a usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

/// What goes to stderr. By default driftlog's own warnings and errors, and `serve`'s
/// progress: the AWS SDK logs every failed step of its credential chain as a multi-line
/// WARN, while driftlog's error already says what was missing and where it looked. `-v` and
/// `-vv` open it up; DRIFTLOG_LOG or RUST_LOG choose exactly.
fn log_filter(verbose: u8, progress: bool) -> tracing_subscriber::EnvFilter {
    let from_env = ["DRIFTLOG_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|var| tracing_subscriber::EnvFilter::try_from_env(var).ok());
    from_env.unwrap_or_else(|| {
        let quiet_sdk = "aws_config=off,aws_runtime=off,aws_types=off,aws_smithy_runtime=off,aws_smithy_runtime_api=off,aws_smithy_http_client=off,aws_sdk_sts=off,aws_sdk_sso=off,aws_sdk_ssooidc=off";
        tracing_subscriber::EnvFilter::new(match (verbose, progress) {
            (0, false) => format!("warn,{quiet_sdk}"),
            (0, true) => format!("warn,driftlog_server=info,{quiet_sdk}"),
            (1, _) => "info,aws_config=warn,aws_runtime=warn,aws_smithy_runtime=warn".into(),
            _ => "debug,hyper=info,h2=info,sled=info".into(),
        })
    })
}

/// An error and its causes, each said once.
fn report(e: &anyhow::Error) -> String {
    driftlog_server::report(e.as_ref())
}

async fn run(cli: Cli) -> Result<()> {
    let cfg = load_config(&cli)?;
    match cli.cmd {
        Cmd::Config => {
            print!("{}", config::DEFAULT_TOML);
            Ok(())
        }
        Cmd::Bench(args) if args.aggregate() => bench_aggregate::run(&args).await,
        Cmd::Bench(args) => bench::run(args, cfg.source.aws.settings()).await,
        Cmd::Serve(args) => serve(cfg, args).await,
        Cmd::Query(req) => query(cfg, req).await,
    }
}

/// Applies the command line to the config, binds the listeners, and serves until Ctrl-C.
async fn serve(mut cfg: Config, a: ServeArgs) -> Result<()> {
    let listen_required = a.listen.as_ref().is_some_and(|l| !config::is_off(l));
    if let Some(l) = a.listen {
        cfg.api.listen = if config::is_off(&l) { String::new() } else { l };
    }
    if a.aggregator || a.nats_url.is_some() {
        cfg.aggregator.enabled = true;
    }
    if let Some(u) = a.nats_url {
        cfg.aggregator.url = u;
    }
    if let Some(s) = a.source {
        cfg.source.kind = if s == "aws" {
            config::SourceKind::Aws
        } else {
            config::SourceKind::Sim
        };
    }
    if !a.regions.is_empty() {
        cfg.source.aws.regions = a.regions;
    }
    if let Some(p) = a.profile {
        cfg.source.aws.profile = p;
    }
    if let Some(u) = a.endpoint_url {
        cfg.source.aws.endpoints.0.insert("all".into(), u);
    }
    if let Some(r) = a.resources {
        cfg.source.sim.resources = r;
    }
    if let Some(c) = a.churn {
        if !(0.0..=1.0).contains(&c) {
            return Err(UsageError(format!("--churn {c} rejected: use 0.0..1.0")).into());
        }
        cfg.source.sim.churn = c;
    }
    if let Some(s) = a.seed {
        cfg.source.sim.seed = s;
    }
    if let Some(i) = a.interval {
        cfg.recorder.interval = i;
    }
    if let Some(t) = a.tick {
        cfg.source.sim.tick_interval = t;
    }
    if let Err(e) = cfg.check() {
        return Err(UsageError(format!(
            "command-line options rejected; nothing started: {e}"
        ))
        .into());
    }

    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let sock = driftlog_server::socket_path(&cfg.data_dir);
    // A socket that answers belongs to a running serve: leave it alone (its store lock
    // would refuse this one anyway). One that does not is left over from a crash.
    if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
        anyhow::bail!(
            "another `driftlog serve` is running on {} (its query socket {} answers); stop it first, or pass another --data-dir",
            cfg.data_dir.display(),
            sock.display()
        );
    }
    let _ = std::fs::remove_file(&sock);
    let query = tokio::net::UnixListener::bind(&sock)
        .with_context(|| format!("binding query socket {}", sock.display()))?;
    let api = match cfg.api.address()? {
        None => None,
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            // The default address may be taken (another driftlog); recording goes on.
            Err(e) if !listen_required => {
                tracing::warn!(
                    "AWS Config API not started: {addr}: {e}; set [api] listen (or --listen) to a free address, or \"off\""
                );
                None
            }
            Err(e) => {
                let _ = std::fs::remove_file(&sock);
                return Err(e)
                    .with_context(|| format!("binding the API address {addr} (--listen)"));
            }
        },
    };
    let listeners = Listeners {
        api,
        query: Some(query),
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let served = driftlog_server::serve(cfg, listeners, shutdown).await;
    let _ = std::fs::remove_file(&sock);
    served.map_err(Into::into)
}

/// How the answers of a request are printed.
fn mode(req: &Request) -> render::Mode {
    use render::Mode;
    match req {
        Request::Tail(t) => Mode::Items { json: t.out.json },
        Request::History(h) => Mode::Items { json: h.out.json },
        Request::Show { .. } => Mode::Show,
        Request::At(a) if a.items => Mode::Items { json: true },
        Request::At(a) => Mode::Counts { json: a.out.json },
        Request::Diff { .. } => Mode::Diff,
        Request::Related { out, .. } => Mode::Related { json: out.json },
        Request::Status { out } => Mode::Status { json: out.json },
        Request::Refresh { .. } | Request::Start | Request::Stop | Request::Deliver(_) => Mode::Raw,
        Request::Sinks { out } => Mode::Sinks { json: out.json },
        Request::Stats(s) => Mode::Stats { json: s.out.json },
        Request::Audit(a) => Mode::Audit { json: a.out.json },
        Request::Rules(
            RulesRequest::List { out }
            | RulesRequest::Eval { out, .. }
            | RulesRequest::Backtest { out, .. },
        )
        | Request::Compliance { out, .. } => Mode::Report { json: out.json },
        Request::Rules(RulesRequest::Add { .. } | RulesRequest::Remove { .. }) => {
            Mode::Report { json: false }
        }
    }
}

/// Answers a query: through a running `serve` when its socket answers, else over the store.
async fn query(cfg: Config, mut req: Request) -> Result<()> {
    req.prepare()?;
    let mut printer = render::Printer::new(mode(&req));
    if let Request::Tail(t) = &req {
        if let Some(url) = &t.server {
            let from = TailFrom::parse(&t.from, driftlog_model::time::now_ms())?;
            return grpc_client::tail(url, t.clone(), from, &mut printer).await;
        }
        if !t.properties.is_empty() {
            return Err(UsageError(
                "--property needs --server (the gRPC API filters on changed properties)".into(),
            )
            .into());
        }
    }
    let sock = driftlog_server::socket_path(&cfg.data_dir);
    // A running `serve` holds the store: talk to it. Otherwise open the store ourselves.
    if sock.exists() {
        if let Ok(stream) = std::os::unix::net::UnixStream::connect(&sock) {
            return tokio::task::spawn_blocking(move || client::remote(stream, &req, &mut printer))
                .await?;
        }
    }
    if req.needs_server() {
        return Err(driftlog_server::Error::NotRunning(format!(
            "no `driftlog serve` is running on {}: start it (with this data dir) and retry",
            cfg.data_dir.display()
        ))
        .into());
    }
    if !cfg.data_dir.join("store").exists() {
        return Err(driftlog_server::Error::NotRunning(format!(
            "no driftlog data in {}: run `driftlog serve` first (or pass --data-dir)",
            cfg.data_dir.display()
        ))
        .into());
    }
    let log = driftlog_server::open_log(&cfg)?;
    // Offline, only a snapshot needs the channel (the store is ours while we hold it), and
    // only rules requests the engine (rules are read, put and back-tested on the store
    // itself; evaluation waits for serve).
    let delivery = match req {
        Request::Deliver(_) => {
            let ch = driftlog_server::open_channel(&cfg, &log).await?;
            Some(std::sync::Arc::new(driftlog_server::Delivery::offline(
                &cfg, &log, ch,
            )))
        }
        _ => None,
    };
    let rules = match req {
        Request::Rules(_) | Request::Compliance { .. } => {
            Some(driftlog_server::open_rules_offline(&cfg, &log)?)
        }
        _ => None,
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
        eprintln!(
            "driftlog: no `driftlog serve` is running on {}: printing what the log holds, then exiting",
            cfg.data_dir.display()
        );
        let from = TailFrom::parse(&from, driftlog_model::time::now_ms())?;
        return client::local_tail(
            log,
            filter,
            &by,
            driftlog_server::protocol::tail_start(from, durable),
            limit,
            &mut printer,
        )
        .await;
    }
    let reach = Reach::Offline(Offline {
        log,
        delivery,
        rules,
    });
    let mut err = None;
    driftlog_server::query::execute(&reach, req, &mut |a| match printer.print_answer(a) {
        Ok(()) => true,
        Err(e) => {
            err = Some(e);
            false
        }
    })
    .await?;
    match err {
        Some(e) => Err(e),
        None => printer.finish(),
    }
}
