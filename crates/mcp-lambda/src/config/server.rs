//! The server to run: words after `--`, `--command`, an `mcpServers` file entry, or the bundled
//! example; its environment (ours filtered by `--pass-env`, then the entry's `env`, then
//! `--env`); and which of its variables are secret references to resolve at start-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcp_lambda_core::ServerCommand;
use mcp_lambda_core::command::child_env;
use serde::Deserialize;

use super::{ConfigError, ServeArgs, err};

/// The server selection: the child's command (with its environment: ours filtered by
/// `--pass-env`, then the file entry's, then `--env`), its short name for logs, and the
/// variables whose value is a secret reference (`ssm:…`, `secretsmanager:…`) to resolve.
pub(super) fn server(
    args: &ServeArgs,
    ours: &[(String, String)],
    self_exe: &Path,
) -> Result<Child, ConfigError> {
    let selected = select_server(args, self_exe)?;
    let mut explicit = selected.env;
    explicit.extend(args.env.iter().cloned());
    // Later entries win in the child's environment; a reference is resolved only if it wins.
    let mut winners: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in &explicit {
        winners.insert(k, v);
    }
    let secrets: Vec<(String, String)> = winners
        .into_iter()
        .filter(|(_, v)| v.starts_with("ssm:") || v.starts_with("secretsmanager:"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let command = ServerCommand {
        program: selected.program,
        args: selected.args,
        env: child_env(ours.iter().cloned(), &args.pass_env, &explicit),
        cwd: selected.cwd,
    };
    Ok(Child {
        name: selected.name,
        command,
        secrets,
    })
}

/// What [`server`] gives.
pub(super) struct Child {
    /// A short name for logs.
    pub(super) name: String,
    /// The command and its environment (secret references still unresolved).
    pub(super) command: ServerCommand,
    /// (variable, reference) of the secret references to resolve.
    pub(super) secrets: Vec<(String, String)>,
}

/// The child [`select_server`] chose, before the environment is merged.
struct Selected {
    /// A short name for logs.
    name: String,
    /// The program to run.
    program: String,
    /// Its arguments.
    args: Vec<String>,
    /// Variables from the `mcpServers` entry (`--env` overrides them).
    env: Vec<(String, String)>,
    /// Working directory from the `mcpServers` entry.
    cwd: Option<PathBuf>,
}

impl Selected {
    /// A command line's first word and the rest, named after the program's file name.
    fn words(words: &[String], field: &str) -> Result<Self, ConfigError> {
        let Some((program, rest)) = words.split_first() else {
            return Err(err(field, "is empty"));
        };
        let name = Path::new(program)
            .file_name()
            .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned());
        Ok(Self {
            name,
            program: program.clone(),
            args: rest.to_vec(),
            env: Vec::new(),
            cwd: None,
        })
    }
}

/// Picks the one source of the server: words after `--`, `--command`, `--config`, or the
/// bundled example; more than one is an error, as is `--server` without `--config`.
fn select_server(args: &ServeArgs, self_exe: &Path) -> Result<Selected, ConfigError> {
    let sources = [
        !args.cmd.is_empty(),
        args.command.is_some(),
        args.config.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() > 1 {
        return Err(err(
            "server",
            "give the server one way only: words after --, --command (MCP_LAMBDA_COMMAND), or --config (MCP_LAMBDA_CONFIG)",
        ));
    }
    if args.server.is_some() && args.config.is_none() {
        return Err(err(
            "--server (MCP_LAMBDA_SERVER)",
            "only makes sense with --config (MCP_LAMBDA_CONFIG)",
        ));
    }
    if !args.cmd.is_empty() {
        return Selected::words(&args.cmd, "CMD");
    }
    if let Some(line) = &args.command {
        let field = "--command (MCP_LAMBDA_COMMAND)";
        let words = shlex::split(line)
            .ok_or_else(|| err(field, format!("{line:?} has unbalanced quotes")))?;
        return Selected::words(&words, field);
    }
    if let Some(path) = &args.config {
        return from_file(path, args.server.as_deref());
    }
    Ok(Selected {
        name: "example".into(),
        program: self_exe.to_string_lossy().into_owned(),
        args: vec!["example-server".into()],
        env: Vec::new(),
        cwd: None,
    })
}

/// One `mcpServers` entry.
#[derive(Debug, Deserialize)]
struct ServerEntry {
    /// The program (required for stdio servers).
    command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    args: Vec<String>,
    /// Its environment additions.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Its working directory.
    cwd: Option<PathBuf>,
    /// `stdio` or absent; anything else cannot be wrapped.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Set by remote servers, which cannot be wrapped.
    url: Option<String>,
}

/// An `mcpServers` file; entries stay raw until one is chosen, so others may be any shape.
#[derive(Debug, Deserialize)]
struct ServersFile {
    /// Entries by name.
    #[serde(rename = "mcpServers")]
    mcp_servers: Option<BTreeMap<String, serde_json::Value>>,
}

/// Reads the `mcpServers` file at `path` and selects `wanted`, or its only entry.
fn from_file(path: &Path, wanted: Option<&str>) -> Result<Selected, ConfigError> {
    let shown = path.display();
    let field = format!("--config {shown}");
    let text =
        std::fs::read_to_string(path).map_err(|e| err(&field, format!("cannot be read: {e}")))?;
    let file: ServersFile =
        serde_json::from_str(&text).map_err(|e| err(&field, format!("is not valid JSON: {e}")))?;
    let servers = file
        .mcp_servers
        .ok_or_else(|| err(&field, "has no \"mcpServers\" object"))?;
    let names = || servers.keys().cloned().collect::<Vec<_>>().join(", ");
    let name = match (wanted, servers.len()) {
        (Some(n), _) => n.to_owned(),
        (None, 1) => servers.keys().next().cloned().unwrap_or_default(),
        (None, 0) => return Err(err(format!("{field}: mcpServers"), "is empty")),
        (None, n) => {
            return Err(err(
                "--server (MCP_LAMBDA_SERVER)",
                format!("{shown} defines {n} servers ({}); choose one", names()),
            ));
        }
    };
    let value = servers.get(&name).ok_or_else(|| {
        err(
            "--server (MCP_LAMBDA_SERVER)",
            format!("{name:?} is not in {shown} (it has: {})", names()),
        )
    })?;
    let entry_field = format!("{field}: mcpServers.{name}");
    let entry: ServerEntry =
        serde_json::from_value(value.clone()).map_err(|e| err(&entry_field, e.to_string()))?;
    if let Some(kind) = &entry.kind
        && kind != "stdio"
    {
        return Err(err(
            format!("{entry_field}.type"),
            format!("{kind:?}: only stdio servers can be wrapped"),
        ));
    }
    let Some(command) = entry.command.filter(|c| !c.trim().is_empty()) else {
        let why = if entry.url.is_some() {
            "is missing: this entry is a remote (url) server; only stdio servers can be wrapped"
        } else {
            "is missing"
        };
        return Err(err(format!("{entry_field}.command"), why));
    };
    Ok(Selected {
        name,
        program: command,
        args: entry.args,
        env: entry.env.into_iter().collect(),
        cwd: entry.cwd,
    })
}
