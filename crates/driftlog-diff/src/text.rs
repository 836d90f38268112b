//! Human-readable unified diff of two versions, for `driftlog diff`.

use serde_json::Value;
use similar::TextDiff;
use std::time::Duration;

/// Renders `a` → `b` as pretty JSON in unified diff form with 3 lines of context.
///
/// Myers with a 1 s deadline: similar gives up gracefully on pathological inputs instead of
/// hanging the CLI.
pub fn unified(a: &Value, b: &Value, a_label: &str, b_label: &str) -> String {
    let left = serde_json::to_string_pretty(a).unwrap_or_default() + "\n";
    let right = serde_json::to_string_pretty(b).unwrap_or_default() + "\n";
    TextDiff::configure()
        .timeout(Duration::from_secs(1))
        .diff_lines(&left, &right)
        .unified_diff()
        .context_radius(3)
        .header(a_label, b_label)
        .to_string()
}
