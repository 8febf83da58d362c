//! JSON lines on stdout: what `confer call` prints (SDK events and, with
//! `--probe`, probe results) from several tasks onto the one stream.

use anyhow::Context;
use serde::Serialize;
use std::io::Write;

/// Prints `value` as one JSON object on its own line. Stdout stays locked
/// while the whole line is written, so lines printed by different tasks never
/// interleave.
pub(crate) fn print(value: &impl Serialize) -> anyhow::Result<()> {
    let line = serde_json::to_string(value).context("serializing a JSON line")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").context("writing to stdout")?;
    out.flush().context("writing to stdout")
}
