//! One clap value parser per kind of value: each checks a single flag / variable on its own and
//! yields its typed value (a [`Duration`], a byte count, an address, ...), so nothing is parsed
//! twice. A rejection is a [`ConfigError`](super::ConfigError) naming the flag and its
//! variable; see [`Checked`].

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::time::Duration;

use clap::ValueEnum;
use clap::builder::{PossibleValue, TypedValueParser};
use mcp_lambda_core::EraPolicy;

use super::err;

/// A clap value parser from a plain check. Its failure is a [`ConfigError`](super::ConfigError)
/// whose field is the argument's flag and variable (`--request-timeout
/// (MCP_LAMBDA_REQUEST_TIMEOUT)`), carried as the clap error's source (see
/// [`config_error`](super::config_error)), so `main` prints one line.
#[derive(Clone, Copy)]
pub(super) struct Checked<T>(pub(super) fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Checked<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let field = arg.map_or_else(|| "value".to_owned(), field_name);
        let check = self.0;
        let named = move |s: &str| check(s).map_err(|message| err(field.clone(), message));
        named.parse_ref(cmd, arg, value)
    }
}

/// `--flag (MCP_LAMBDA_VARIABLE)`, the way every error names an option.
fn field_name(arg: &clap::Arg) -> String {
    let flag = arg.get_long().unwrap_or_else(|| arg.get_id().as_str());
    match arg.get_env() {
        Some(env) => format!("--{flag} ({})", env.to_string_lossy()),
        None => format!("--{flag}"),
    }
}

/// The longest duration any option takes: ten years. Longer ones are a mistake, and adding
/// them to a clock would overflow it.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// A duration greater than zero and at most [`MAX_DURATION`] (humantime: `500ms`, `30s`, `5m`,
/// `1h`).
pub(super) fn positive_duration(value: &str) -> Result<Duration, String> {
    let d = any_duration(value)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// A duration that may be zero (`0` included), at most [`MAX_DURATION`].
pub(super) fn any_duration(value: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(value.trim())
        .map_err(|e| format!("{value:?} is not a duration ({e}); use e.g. 500ms, 30s, 5m"))?;
    if d > MAX_DURATION {
        return Err(format!("{value:?} is longer than ten years"));
    }
    Ok(d)
}

/// A byte count of at least 1024 (decimal digits).
pub(super) fn message_bytes(value: &str) -> Result<usize, String> {
    let n: usize = value
        .trim()
        .parse()
        .map_err(|e| format!("{value:?} is not a number of bytes ({e})"))?;
    if n < 1024 {
        return Err("must be at least 1024".into());
    }
    Ok(n)
}

/// A whole number from `min` to `max`.
fn count(value: &str, min: usize, max: usize) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{value:?} is not a number from {min} to {max}")),
    }
}

/// A number of sessions: 1 to 10,000,000.
pub(super) fn session_count(value: &str) -> Result<usize, String> {
    count(value, 1, 10_000_000)
}

/// A number of child processes: 1 to 4096.
pub(super) fn child_count(value: &str) -> Result<usize, String> {
    count(value, 1, 4096)
}

/// A number of connections: 1 to 65536.
pub(super) fn connection_count(value: &str) -> Result<usize, String> {
    count(value, 1, 65536)
}

/// A socket address to listen on.
pub(super) fn listen_addr(value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not an address like 127.0.0.1:8080"))
}

/// The endpoint path: absolute, and not the health check's.
pub(super) fn endpoint_path(value: &str) -> Result<String, String> {
    if !value.starts_with('/') || value == "/healthz" {
        return Err(format!("{value:?} must start with / and not be /healthz"));
    }
    Ok(value.to_owned())
}

/// An allowed Origin: `http(s)://...` or `*`.
pub(super) fn origin(value: &str) -> Result<String, String> {
    if value != "*" && !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(format!(
            "{value:?} is not an origin like https://app.example.com (or *)"
        ));
    }
    Ok(value.to_owned())
}

/// One `K=V` child variable (the value may contain `=`).
pub(super) fn env_pair(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        None => Err(format!("{value:?} is not K=V")),
        Some(("", _)) => Err(format!("{value:?} has an empty name")),
        Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
    }
}

/// The name of a variable to pass through.
pub(super) fn var_name(value: &str) -> Result<String, String> {
    if value.is_empty() || value.contains('=') {
        return Err(format!("{value:?} is not a variable name"));
    }
    Ok(value.to_owned())
}

/// A protocol version this endpoint serves.
pub(super) fn served_version(value: &str) -> Result<String, String> {
    use mcp_lambda_core::protocol::{SERVED_VERSIONS, is_modern, is_supported};
    if !is_supported(value) && !is_modern(value) {
        return Err(format!(
            "{value:?} is not a protocol version this endpoint serves ({})",
            SERVED_VERSIONS.join(", ")
        ));
    }
    Ok(value.to_owned())
}

/// `--child-era` as clap sees [`EraPolicy`] (the core crate does not depend on clap): the
/// parsed value is the core's own enum.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChildEra(pub(super) EraPolicy);

impl ValueEnum for ChildEra {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Self(EraPolicy::Auto),
            Self(EraPolicy::Legacy),
            Self(EraPolicy::Modern),
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self.0 {
            EraPolicy::Auto => {
                PossibleValue::new("auto").help("Probe the first child with `server/discover`")
            }
            EraPolicy::Legacy => PossibleValue::new("legacy")
                .help("Initialize-era server (2025-11-25 and earlier): never probed"),
            EraPolicy::Modern => {
                PossibleValue::new("modern").help("2026-07-28 server: never initialized")
            }
        })
    }
}
