//! The server's one stop switch: a `watch` that turns true once, read by every task.

use tokio::sync::watch;

/// Resolves once `stop` turns true (or its sender is gone, which also means stop).
pub(crate) async fn wait_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
