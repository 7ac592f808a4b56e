//! What to run: the stdio server's command line and the environment it gets.
//!
//! Contract: the child's environment is an allow-list. It gets the variables in
//! [`BASE_ALLOW_LIST`] (and `LC_*`) from our own environment, then every variable the user
//! named with `pass_env`, then the explicit `env` pairs (which win). Nothing else crosses — in
//! particular no AWS credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, ...) and no `AWS_LAMBDA_*` runtime variables, unless named explicitly.

use std::path::PathBuf;

/// Variables passed to every child when set in our environment.
pub const BASE_ALLOW_LIST: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "TERM",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "NODE_PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

/// A stdio MCP server to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCommand {
    /// The program (looked up on the child's `PATH`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The complete environment the child gets.
    pub env: Vec<(String, String)>,
    /// Working directory, if not ours.
    pub cwd: Option<PathBuf>,
}

/// Builds a child environment from `ours` (our own environment), the names to pass through,
/// and explicit pairs. Later entries win; the result is sorted by name.
pub fn child_env(
    ours: impl IntoIterator<Item = (String, String)>,
    pass_env: &[String],
    explicit: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: std::collections::BTreeMap<String, String> = Default::default();
    for (k, v) in ours {
        let allowed = BASE_ALLOW_LIST.contains(&k.as_str())
            || k.starts_with("LC_")
            || pass_env.iter().any(|p| p == &k);
        if allowed {
            out.insert(k, v);
        }
    }
    for (k, v) in explicit {
        out.insert(k.clone(), v.clone());
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Vec<(String, String)> {
        [
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("LC_ALL", "C"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "t"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_REGION", "eu-west-1"),
            ("DATABASE_URL", "postgres://secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn only_allow_listed_variables_cross() {
        let env = child_env(ours(), &[], &[]);
        let names: Vec<_> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["AWS_REGION", "HOME", "LC_ALL", "PATH"]);
    }

    #[test]
    fn pass_env_and_explicit_pairs_are_added_and_explicit_wins() {
        let env = child_env(
            ours(),
            &["AWS_SECRET_ACCESS_KEY".into(), "NOT_SET".into()],
            &[
                ("PATH".into(), "/opt/bin".into()),
                ("API_KEY".into(), "k".into()),
            ],
        );
        assert!(env.contains(&("AWS_SECRET_ACCESS_KEY".into(), "s".into())));
        assert!(env.contains(&("PATH".into(), "/opt/bin".into())));
        assert!(env.contains(&("API_KEY".into(), "k".into())));
        assert!(
            !env.iter()
                .any(|(k, _)| k == "AWS_ACCESS_KEY_ID" || k == "NOT_SET")
        );
    }
}
