//! Compiled-code caches for children (`--compile-cache`).
//!
//! Contract: with a cache directory `DIR`, every child gets `NODE_COMPILE_CACHE=DIR/node`
//! (Node 22+ reuses compiled code from the second spawn on; harmless to other languages). A
//! child of a lifecycle that spawns again and again (`per-request`, `per-session`) also gets
//! `PYTHONPYCACHEPREFIX=DIR/python` — unless the package ships bytecode for the child's
//! interpreter: with a prefix Python reads bytecode *only* there, so shipped bytecode (and the
//! runtime's own standard library's) would be compiled again on the first spawn. Measured with
//! mcp-server-time from a read-only tree without bytecode (docs/PERFORMANCE.md, *Cold start*):
//! 842 ms per spawn without the prefix; with it, 990 ms for the first and 465 ms for each later
//! one.
//! A variable the user set (`--env`, `--pass-env`) is never replaced.
//!
//! [`bytecode`] says whether the Python package directories carry bytecode for the child's
//! interpreter, and the start-up log says so when they carry bytecode for another one.

use std::path::{Path, PathBuf};

use mcp_lambda_core::ServerCommand;

/// What the package directories hold for the child's interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bytecode {
    /// Bytecode for the interpreter's cache tag (e.g. `cpython-313`) was found.
    Matching,
    /// Only bytecode for other interpreters: the tags found.
    Other(Vec<String>),
    /// No bytecode, or not a Python child (or its interpreter is unknown).
    None,
}

/// Most directory entries looked at when searching for bytecode.
const SCAN_MAX: usize = 4000;

/// Adds the cache variables to `server`'s environment (see the module docs); returns what the
/// start-up log should say about Python bytecode, if anything.
pub(crate) fn apply(server: &mut ServerCommand, dir: &Path, respawns: bool) -> Option<String> {
    let bytecode = bytecode(server);
    let mut add = |name: &str, value: PathBuf| {
        if !server.env.iter().any(|(k, _)| k == name) {
            server
                .env
                .push((name.to_owned(), value.to_string_lossy().into_owned()));
        }
    };
    add("NODE_COMPILE_CACHE", dir.join("node"));
    if respawns && bytecode != Bytecode::Matching {
        add("PYTHONPYCACHEPREFIX", dir.join("python"));
    }
    server.env.sort();
    match bytecode {
        Bytecode::Other(tags) => Some(format!(
            "the Python packages carry bytecode for {} but the MCP server's interpreter is {}: every spawn compiles them again (compile with the function's interpreter: docs/PACKAGING.md)",
            tags.join(", "),
            cache_tag(server).unwrap_or_default()
        )),
        _ => None,
    }
}

/// The CPython cache tag of the child's interpreter (`python3.13` → `cpython-313`), from its
/// program name or, for `python3` / `python`, the file it links to on the child's `PATH`.
pub(crate) fn cache_tag(server: &ServerCommand) -> Option<String> {
    let name = Path::new(&server.program).file_name()?.to_str()?;
    if !name.starts_with("python") {
        return None;
    }
    let versioned = |n: &str| {
        let v = n.strip_prefix("python")?;
        let (major, minor) = v.split_once('.')?;
        (major.chars().all(|c| c.is_ascii_digit())
            && minor.chars().all(|c| c.is_ascii_digit())
            && !minor.is_empty())
        .then(|| format!("cpython-{major}{minor}"))
    };
    if let Some(tag) = versioned(name) {
        return Some(tag);
    }
    let path = server
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())?;
    let found = if server.program.contains('/') {
        Some(PathBuf::from(&server.program))
    } else {
        std::env::split_paths(&path)
            .map(|d| d.join(&server.program))
            .find(|p| p.exists())
    }?;
    let real = std::fs::canonicalize(found).ok()?;
    versioned(real.file_name()?.to_str()?)
}

/// Whether the directories Python imports the package from (`PYTHONPATH`, the working
/// directory) carry bytecode for the child's interpreter. Looks at `__pycache__` directories
/// up to two levels below each, at most [`SCAN_MAX`] entries in all.
pub(crate) fn bytecode(server: &ServerCommand) -> Bytecode {
    let Some(tag) = cache_tag(server) else {
        return Bytecode::None;
    };
    let mut roots: Vec<PathBuf> = server
        .env
        .iter()
        .filter(|(k, _)| k == "PYTHONPATH")
        .flat_map(|(_, v)| std::env::split_paths(v).collect::<Vec<_>>())
        .collect();
    // Not our own working directory: it may hold anyone's bytecode (the layer's wrapper puts
    // the task root on PYTHONPATH anyway).
    roots.extend(server.cwd.clone());
    let mut seen = 0usize;
    let mut tags: Vec<String> = Vec::new();
    let mut dirs: Vec<(PathBuf, u8)> = roots.into_iter().map(|r| (r, 0)).collect();
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > SCAN_MAX {
                break;
            }
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name() == "__pycache__" {
                for pyc in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    let n = pyc.file_name();
                    let Some(t) = n.to_str().and_then(pyc_tag) else {
                        continue;
                    };
                    if t == tag {
                        return Bytecode::Matching;
                    }
                    if !tags.iter().any(|x| x == t) {
                        tags.push(t.to_owned());
                    }
                }
            } else if depth < 2 {
                dirs.push((path, depth + 1));
            }
        }
    }
    if tags.is_empty() {
        Bytecode::None
    } else {
        tags.sort();
        Bytecode::Other(tags)
    }
}

/// `mod.cpython-313.pyc` → `cpython-313` (`opt-1` and `opt-2` variants included).
fn pyc_tag(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".pyc")?;
    let mut parts = stem.split('.');
    parts.next()?;
    let tag = parts.next()?;
    tag.starts_with("cpython-").then_some(tag)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn python(program: &str, pythonpath: &Path) -> ServerCommand {
        ServerCommand {
            program: program.into(),
            args: vec![],
            env: vec![("PYTHONPATH".into(), pythonpath.display().to_string())],
            cwd: None,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mcpl-cc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("pkg/__pycache__")).unwrap();
        d
    }

    #[test]
    fn tags_come_from_the_interpreter_name() {
        let s = |p: &str| python(p, Path::new("/nonexistent"));
        assert_eq!(cache_tag(&s("python3.13")).as_deref(), Some("cpython-313"));
        assert_eq!(
            cache_tag(&s("/var/lang/bin/python3.12")).as_deref(),
            Some("cpython-312")
        );
        assert_eq!(cache_tag(&s("node")), None);
        assert_eq!(pyc_tag("x.cpython-313.opt-1.pyc"), Some("cpython-313"));
        assert_eq!(pyc_tag("x.py"), None);
    }

    #[test]
    fn shipped_bytecode_is_recognised_and_kept_usable() {
        let d = scratch("match");
        std::fs::write(d.join("pkg/__pycache__/m.cpython-313.pyc"), b"").unwrap();
        let mut s = python("python3.13", &d);
        assert_eq!(bytecode(&s), Bytecode::Matching);
        assert_eq!(apply(&mut s, Path::new("/tmp/c"), true), None);
        assert!(
            s.env
                .iter()
                .any(|(k, v)| k == "NODE_COMPILE_CACHE" && v == "/tmp/c/node")
        );
        // With matching bytecode the prefix would only hide it.
        assert!(!s.env.iter().any(|(k, _)| k == "PYTHONPYCACHEPREFIX"));
    }

    #[test]
    fn other_bytecode_is_reported_and_respawning_children_get_the_prefix() {
        let d = scratch("other");
        std::fs::write(d.join("pkg/__pycache__/m.cpython-311.pyc"), b"").unwrap();
        let mut s = python("python3.13", &d);
        assert_eq!(bytecode(&s), Bytecode::Other(vec!["cpython-311".into()]));
        let note = apply(&mut s, Path::new("/tmp/c"), true).unwrap();
        assert!(
            note.contains("cpython-311") && note.contains("cpython-313"),
            "{note}"
        );
        assert!(
            s.env
                .iter()
                .any(|(k, v)| k == "PYTHONPYCACHEPREFIX" && v == "/tmp/c/python")
        );
        // A reused child starts once: no prefix (it would recompile the standard library).
        let mut once = python("python3.13", &d);
        apply(&mut once, Path::new("/tmp/c"), false);
        assert!(!once.env.iter().any(|(k, _)| k == "PYTHONPYCACHEPREFIX"));
    }

    #[test]
    fn the_users_own_settings_win() {
        let d = scratch("user");
        let mut s = python("python3.13", &d);
        s.env.push(("NODE_COMPILE_CACHE".into(), "/mine".into()));
        apply(&mut s, Path::new("/tmp/c"), true);
        let node: Vec<_> = s
            .env
            .iter()
            .filter(|(k, _)| k == "NODE_COMPILE_CACHE")
            .collect();
        assert_eq!(
            node,
            [&("NODE_COMPILE_CACHE".to_owned(), "/mine".to_owned())]
        );
    }
}
