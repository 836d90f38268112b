//! The composition root of driftlog: [`serve`] builds the services once ([`Services`]: the
//! store, the recorder on its source, delivery and sinks, the AWS Config API, the rules) and
//! runs them on listeners the caller bound, until a shutdown future completes; every task it
//! starts, per-connection ones included, is tracked, and `serve` returns only when all have
//! ended. The query protocol ([`protocol`]) is shared with the CLI, which parses its
//! requests as subcommands and answers them over the store itself ([`query::execute`] with
//! [`Reach::Offline`]) when no server runs.
//!
//! Only this crate wires services together; progress goes through `tracing`, and the
//! binary decides how it is shown.

pub mod config;
mod delivery;
mod error;
mod http;
pub mod protocol;
pub mod query;
mod rules_query;
mod serve;
mod services;
mod socket;
mod stop;

pub use delivery::{open_channel, Delivery};
pub use error::{report, BoxError, Context, Error, Result};
pub use serve::{open_log, recorder_id, serve, socket_path, Listeners};
pub use services::{Offline, Reach, Services};

/// The rules engine over a store, for the CLI's offline rules requests: the home account
/// is the first recorded one.
///
/// # Errors
/// The rules stored cannot be read.
pub fn open_rules_offline(
    cfg: &config::Config,
    log: &std::sync::Arc<driftlog_log::Log>,
) -> Result<std::sync::Arc<driftlog_compliance::Engine>> {
    let account = log
        .state()
        .keys()
        .next()
        .map_or_else(|| "000000000000".to_string(), |k| k.account);
    let region = cfg
        .source
        .sim
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| "us-east-1".into());
    driftlog_compliance::Engine::open(
        log.clone(),
        None,
        http::rules_settings(cfg, account, region),
    )
    .context("opening the rules in the store")
}
