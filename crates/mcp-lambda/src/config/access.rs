//! Who may do what: authorization (`--auth oauth` and its `--oauth-*` settings) and the tool
//! policy (`--tools`, `--read-only`).
//!
//! Contract: [`AccessArgs`] are flattened into the `serve` / Lambda options; each value is
//! checked on its own by its parser (URLs, scopes, `--tools` globs), and [`access`] checks how
//! they combine: OAuth needs an issuer, and a resource URI unless the host can derive one the
//! client cannot forge (a Lambda front door's request context, a `serve` on loopback).

use clap::{Args, ValueEnum};
use mcp_lambda_core::policy::{ToolPolicy, ToolScopes};

use super::values::Checked;
use super::{ConfigError, Mode, err};

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuthMode {
    /// Anyone who reaches the endpoint (or what the front door checked: IAM, an API Gateway
    /// authorizer).
    None,
    /// OAuth 2.1 bearer tokens (JWT access tokens of the configured issuers, for this resource).
    Oauth,
}

/// Access options (flags and their `MCP_LAMBDA_*` variables).
#[derive(Debug, Clone, Args)]
pub(crate) struct AccessArgs {
    /// Authentication: none, or oauth (this endpoint is an OAuth 2.1 resource server).
    #[arg(long, env = "MCP_LAMBDA_AUTH", value_enum, default_value = "none")]
    pub(crate) auth: AuthMode,

    /// oauth: a trusted authorization server's issuer URL (repeatable, comma-separated in the
    /// variable); https, or http on a loopback address.
    #[arg(
        long = "oauth-issuer",
        env = "MCP_LAMBDA_OAUTH_ISSUER",
        value_delimiter = ',',
        value_parser = Checked(oauth_url)
    )]
    pub(crate) oauth_issuer: Vec<String>,

    /// oauth: this endpoint's canonical URI, the audience tokens must carry
    /// (`https://mcp.example.com/mcp`) [default: derived on Lambda from the front door, and for
    /// serve on loopback from the loopback host].
    #[arg(long = "oauth-resource", env = "MCP_LAMBDA_OAUTH_RESOURCE", value_parser = Checked(oauth_url))]
    pub(crate) oauth_resource: Option<String>,

    /// oauth: scopes a tool needs, GLOB=SCOPE[ SCOPE…] (repeatable, comma-separated in the
    /// variable): `write_*=files:write`. A call without them is answered 403 insufficient_scope.
    #[arg(
        long = "tool-scope",
        env = "MCP_LAMBDA_TOOL_SCOPE",
        value_delimiter = ','
    )]
    pub(crate) tool_scope: Vec<String>,

    /// oauth: scopes every request needs (comma- or space-separated).
    #[arg(long = "oauth-scopes", env = "MCP_LAMBDA_OAUTH_SCOPES", value_parser = Checked(scope_list))]
    pub(crate) oauth_scopes: Option<Scopes>,

    /// Tools clients may see and call: comma-separated globs (`*`, `?`), a leading `!` denies
    /// (`get_*,echo`; `!delete_*`) [default: every tool]. Hidden tools are left out of
    /// tools/list and calling one is answered like an unknown tool.
    #[arg(long, env = "MCP_LAMBDA_TOOLS", value_parser = Checked(tool_policy))]
    pub(crate) tools: Option<ToolPolicy>,

    /// Only tools annotated `readOnlyHint: true` by the server are visible and callable.
    #[arg(long, env = "MCP_LAMBDA_READ_ONLY", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) read_only: bool,
}

/// An issuer or resource URL: absolute, `https` (or `http` on a loopback host), no query or
/// fragment; without a trailing slash when it has a path.
fn oauth_url(value: &str) -> Result<String, String> {
    let uri: http::Uri = value
        .parse()
        .map_err(|_| format!("{value:?} is not a URL"))?;
    let host = uri.host().ok_or_else(|| format!("{value:?} has no host"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") => {}
        _ => {
            return Err(format!(
                "{value:?} must be https (http only on a loopback address)"
            ));
        }
    }
    if uri.query().is_some() || value.contains('#') {
        return Err(format!("{value:?} must have no query or fragment"));
    }
    if value.contains('@') {
        return Err(format!("{value:?} must have no user information"));
    }
    Ok(value.to_owned())
}

/// A list of OAuth scopes (one clap value: a `Vec` would be read as repeated values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scopes(pub(crate) Vec<String>);

/// Scopes, comma- or space-separated (RFC 6749 scope tokens).
fn scope_list(value: &str) -> Result<Scopes, String> {
    let scopes: Vec<String> = value
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = scopes.iter().find(|s| {
        !s.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    }) {
        return Err(format!("{bad:?} is not a scope token"));
    }
    Ok(Scopes(scopes))
}

/// A `--tools` value.
fn tool_policy(value: &str) -> Result<ToolPolicy, String> {
    ToolPolicy::parse(value, false).map_err(|e| e.to_string())
}

/// OAuth resource server settings, validated.
#[derive(Debug, Clone)]
pub(crate) struct OAuth {
    /// Trusted issuers.
    pub(crate) issuers: Vec<String>,
    /// The configured resource URI.
    pub(crate) resource: Option<String>,
    /// Scopes every request needs.
    pub(crate) scopes: Vec<String>,
    /// `serve` on loopback: the port a loopback `Host` must name for the resource to be derived
    /// from it (never on Lambda, where a `Host` may come from anyone through an ALB).
    pub(crate) loopback_port: Option<u16>,
}

/// The validated access settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
    /// The OAuth resource server, when `--auth oauth`.
    pub(crate) oauth: Option<OAuth>,
    /// Which tools are visible.
    pub(crate) tools: ToolPolicy,
    /// Scopes particular tools need.
    pub(crate) tool_scopes: ToolScopes,
}

/// Combines the access options; `listen` is where `serve` listens.
pub(crate) fn access(
    args: &AccessArgs,
    mode: Mode,
    listen: std::net::SocketAddr,
) -> Result<Access, ConfigError> {
    let loopback = mode == Mode::Serve && listen.ip().is_loopback();
    let tools = args
        .tools
        .clone()
        .unwrap_or_default()
        .with_read_only(args.read_only);
    let tool_scopes =
        ToolScopes::parse(args.tool_scope.iter().map(String::as_str)).map_err(|e| {
            err(
                "--tool-scope (MCP_LAMBDA_TOOL_SCOPE)",
                format!("{e}: rules are GLOB=SCOPE[ SCOPE…]"),
            )
        })?;
    if !tool_scopes.is_empty() && args.auth != AuthMode::Oauth {
        return Err(err(
            "--tool-scope (MCP_LAMBDA_TOOL_SCOPE)",
            "tool scopes are checked on OAuth tokens: use --auth oauth",
        ));
    }
    let oauth = match args.auth {
        AuthMode::None => {
            if !args.oauth_issuer.is_empty() || args.oauth_resource.is_some() {
                return Err(err(
                    "--auth (MCP_LAMBDA_AUTH)",
                    "--oauth-issuer / --oauth-resource are set but --auth is none: use --auth oauth",
                ));
            }
            None
        }
        AuthMode::Oauth => {
            if args.oauth_issuer.is_empty() {
                return Err(err(
                    "--oauth-issuer (MCP_LAMBDA_OAUTH_ISSUER)",
                    "--auth oauth needs at least one authorization server issuer URL",
                ));
            }
            if args.oauth_resource.is_none() && mode == Mode::Serve && !loopback {
                return Err(err(
                    "--oauth-resource (MCP_LAMBDA_OAUTH_RESOURCE)",
                    "--auth oauth on a non-loopback address needs the endpoint's public URI (the Host header a client sends cannot be trusted to say it)",
                ));
            }
            Some(OAuth {
                issuers: args.oauth_issuer.clone(),
                resource: args.oauth_resource.clone(),
                scopes: args.oauth_scopes.clone().unwrap_or_default().0,
                loopback_port: loopback.then_some(listen.port()),
            })
        }
    };
    Ok(Access {
        oauth,
        tools,
        tool_scopes,
    })
}
