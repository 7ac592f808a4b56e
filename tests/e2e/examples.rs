//! The examples in `examples/` (issue 5, item 6), each run end to end the way its README says:
//! under the `cargo lambda watch` Runtime API emulator, called through the Function URL by the
//! official Python `mcp` client in `auto` mode (which must land on protocol 2026-07-28).
//!
//! - `native-rust`: the real binary with no server named serves the embedded example server.
//! - `python-time`, `node-memory`, `mcp-servers-json`: a managed runtime is imitated as in
//!   `tests/e2e/layer.rs`: the layer's exec wrapper (`packaging/layer/mcp-lambda-exec`, next to
//!   `bin/mcp-lambda` in an `/opt`-like directory) is started with the interpreter as its first
//!   argument, a `PATH` without the interpreter's directory, a task root and **the variables of
//!   the example's `lambda-env*.json`** (the file its deploy snippet passes to
//!   `aws lambda create-function`). The task root is what the README's packaging commands
//!   produce, built from the pins the test tools already installed: the packages of
//!   `.tools/venv-time` (the same `mcp-server-time` pin) linked in as `pip install --target`
//!   would lay them out, or `tests/clients/node_modules` (the same `server-memory` pin) linked
//!   next to the example's `package.json`. Only the memory file moves from `/tmp/memory.json`
//!   into this run's scratch directory (so parallel runs do not share it).
//! - Every README's code blocks name only files that exist (or that its own commands create),
//!   agree with the `lambda-env*.json` files, and the pins agree with what the tests run.
//!
//! Scratch files live in Cargo's target/tmp (`examples-e2e-<pid>`); a later run removes those of
//! runs that are gone. A missing tool fails under `CI=true` and skips (with a message) otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mcp_lambda_tests::{
    Emulator, LambdaRuntime, alive, bin, cargo_lambda, mcp_server_time, node, node_module,
    path_str, py_client, python_client, require, root,
};
use serde_json::{Value, json};

/// The examples this file runs.
const EXAMPLES: [&str; 4] = [
    "native-rust",
    "python-time",
    "node-memory",
    "mcp-servers-json",
];

/// The protocol version Python `mcp` 2.x lands on in `auto` mode.
const MODERN: &str = "2026-07-28";

// ------------------------------------------------------------------------------ fixtures

/// This run's scratch directory (`target/tmp/examples-e2e-<pid>`); leftovers of runs whose
/// process is gone are removed first.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("examples-e2e-")
                .and_then(|p| p.parse().ok());
            if pid.is_some_and(|pid| !alive(pid)) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("examples-e2e-{}", std::process::id()));
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

fn example_dir(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The layer as Lambda unpacks it under `/opt`: the repository's exec wrapper and the debug
/// binary as `bin/mcp-lambda` (linked: `tests/e2e/layer.rs` checks the zip itself).
fn layer_opt() -> &'static Path {
    static OPT: OnceLock<PathBuf> = OnceLock::new();
    OPT.get_or_init(|| {
        let opt = fresh_dir("opt");
        std::fs::create_dir_all(opt.join("bin")).unwrap();
        std::os::unix::fs::symlink(bin("mcp-lambda"), opt.join("bin/mcp-lambda")).unwrap();
        std::fs::copy(
            root().join("packaging/layer/mcp-lambda-exec"),
            opt.join("mcp-lambda-exec"),
        )
        .unwrap();
        opt
    })
}

/// The `Variables` of an example's `lambda-env*.json` (what `aws lambda create-function
/// --environment file://...` sets), in file order.
fn function_vars(example: &str, file: &str) -> Vec<(String, String)> {
    let doc = read_json(&example_dir(example).join(file));
    doc["Variables"]
        .as_object()
        .unwrap_or_else(|| panic!("{example}/{file}: no Variables object"))
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("{example}/{file}: {k} is not a string"));
            (k.clone(), v.to_string())
        })
        .collect()
}

/// Replaces the value of `key` in `vars`, which must be `expected` (what the README documents).
fn replace_var(vars: &mut [(String, String)], key: &str, expected: &str, value: &str) {
    let shown = format!("{vars:?}");
    let slot = vars
        .iter_mut()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key} in {shown}"));
    assert_eq!(slot.1, expected, "{key}");
    slot.1 = value.to_string();
}

/// The site-packages of `.tools/venv-time` (mcp-server-time and its dependencies).
fn time_site_packages() -> Option<PathBuf> {
    let venv_bin = mcp_server_time()?.parent().unwrap().to_path_buf();
    let lib = venv_bin.parent().unwrap().join("lib");
    let dir = std::fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir());
    require(
        dir.unwrap_or_else(|| lib.join("python3/site-packages")),
        "mcp-server-time's site-packages",
    )
}

/// The interpreter `.tools/venv-time` was made from: a `python3` that cannot import
/// `mcp_server_time` by itself, standing for the runtime's `/var/lang/bin/python3.13`.
fn base_python() -> Option<PathBuf> {
    let venv_python = mcp_server_time()?.parent().unwrap().join("python3");
    let python = std::fs::canonicalize(&venv_python).unwrap();
    let alone = Command::new(&python)
        .args(["-c", "import mcp_server_time"])
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    assert!(
        !alone.status.success(),
        "{} imports mcp_server_time without the task root: the test would prove nothing",
        python.display()
    );
    Some(python)
}

/// Links every entry of `site_packages` into `task`: the layout `pip install --target task`
/// writes.
fn link_python_packages(site_packages: &Path, task: &Path) {
    for entry in std::fs::read_dir(site_packages).unwrap().flatten() {
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), task.join(&name)).unwrap();
    }
}

/// Links `tests/clients/node_modules` (which holds server-memory at the examples' pin) into
/// `task`: what `npm install` writes there.
fn link_node_modules(task: &Path) -> Option<()> {
    node_module("@modelcontextprotocol/server-memory/dist/index.js")?;
    std::os::unix::fs::symlink(
        root().join("tests/clients/node_modules"),
        task.join("node_modules"),
    )
    .unwrap();
    Some(())
}

/// A function on a managed runtime with the mcp-lambda layer, under a fresh emulator: the
/// wrapper named by `AWS_LAMBDA_EXEC_WRAPPER` in `vars` (below the layer directory instead of
/// `/opt`) is started the way the runtime starts it — `interpreter`, then the runtime's own
/// arguments — with Lambda's variables, `task` as `LAMBDA_TASK_ROOT`, and `vars`.
fn managed_function(
    cl: &Path,
    interpreter: &Path,
    task: &Path,
    vars: &[(String, String)],
) -> (Emulator, LambdaRuntime) {
    let wrapper = vars
        .iter()
        .find(|(k, _)| k == "AWS_LAMBDA_EXEC_WRAPPER")
        .map(|(_, v)| v.as_str())
        .expect("AWS_LAMBDA_EXEC_WRAPPER in the function's variables");
    let rel = wrapper
        .strip_prefix("/opt/")
        .unwrap_or_else(|| panic!("the wrapper {wrapper} is not in the layer (/opt)"));
    let opt = layer_opt();
    let (opt_s, task_s) = (path_str(opt), path_str(task));
    let mut env: Vec<(&str, &str)> = vec![
        // A managed runtime's PATH does not hold its interpreter's directory.
        ("PATH", "/usr/bin:/bin"),
        ("LAMBDA_TASK_ROOT", &task_s),
        ("_HANDLER", "unused.handler"),
        ("MCP_LAMBDA_LAYER_ROOT", &opt_s),
    ];
    env.extend(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let args = vec![
        path_str(interpreter),
        "-u".to_string(),
        "/var/runtime/bootstrap".to_string(),
    ];
    let emu = Emulator::start(cl);
    let f = LambdaRuntime::start_program(&opt.join(rel), &args, &emu.runtime_api(), &env);
    (emu, f)
}

/// The text of a successful tool result.
fn result_text(answer: &Value) -> String {
    let result = &answer["result"];
    assert_ne!(result["isError"], json!(true), "tool error: {answer}");
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content: {answer}"))
        .to_string()
}

/// Asserts the client landed on 2026-07-28 and saw `tools` among the server's tools.
fn assert_modern_with_tools(answer: &Value, tools: &[&str], log: &str) {
    assert_eq!(
        answer["protocolVersion"], MODERN,
        "auto mode did not land on {MODERN}: {answer}\n{log}"
    );
    let names = answer["tools"].as_array().unwrap();
    for tool in tools {
        assert!(
            names.iter().any(|n| n == tool),
            "no {tool} tool: {answer}\n{log}"
        );
    }
}

/// `get_current_time` in UTC through `url`, checked.
fn call_time(python: &Path, url: &str, log: impl Fn() -> String) {
    let answer = py_client(
        python,
        url,
        "auto",
        "get_current_time",
        &json!({"timezone": "UTC"}),
    );
    assert_modern_with_tools(&answer, &["get_current_time", "convert_time"], &log());
    let time: Value = serde_json::from_str(&result_text(&answer))
        .unwrap_or_else(|e| panic!("not mcp-server-time's JSON ({e}): {answer}"));
    assert_eq!(time["timezone"], "UTC", "{answer}");
    assert!(time["datetime"].is_string(), "{answer}");
}

/// `create_entities` with one entity named `name` through `url`, checked.
fn create_entity(python: &Path, url: &str, name: &str, log: impl Fn() -> String) {
    let entity = json!({"name": name, "entityType": "project", "observations": ["runs stdio MCP servers on Lambda"]});
    let answer = py_client(
        python,
        url,
        "auto",
        "create_entities",
        &json!({"entities": [entity]}),
    );
    assert_modern_with_tools(&answer, &["create_entities", "read_graph"], &log());
    assert!(result_text(&answer).contains(name), "{answer}\n{}", log());
}

/// Waits until `file` exists and contains `needle` (the server writes it after answering).
fn wait_file_contains(file: &Path, needle: &str, within: Duration, log: impl Fn() -> String) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "{} never contained {needle:?} ({text:?}); log:\n{}",
            file.display(),
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------------------- the examples

/// examples/native-rust: the binary started by the emulator with no server named serves the
/// example server compiled into it.
#[test]
fn native_rust_serves_the_embedded_server_through_the_function_url() {
    let Some(cl) = cargo_lambda() else { return };
    let Some(python) = python_client() else {
        return;
    };
    let emu = Emulator::start(&cl);
    let f = LambdaRuntime::start(&emu.runtime_api(), &[]);
    let answer = py_client(
        &python,
        &emu.function_url("/mcp"),
        "auto",
        "add",
        &json!({"a": 2, "b": 3}),
    );
    assert_modern_with_tools(&answer, &["echo", "add", "client_info"], &f.log());
    assert_eq!(result_text(&answer), "5", "{answer}");
}

/// examples/python-time: `python3 -m mcp_server_time` on a python3.13-style runtime, its
/// packages in the task root, found through the wrapper's `PYTHONPATH`.
#[test]
fn python_time_runs_on_the_layer_from_its_package() {
    let Some(cl) = cargo_lambda() else { return };
    let Some(client) = python_client() else {
        return;
    };
    let Some(site_packages) = time_site_packages() else {
        return;
    };
    let Some(python) = base_python() else { return };
    let task = fresh_dir("python-time-task");
    link_python_packages(&site_packages, &task);
    let vars = function_vars("python-time", "lambda-env.json");
    let (emu, f) = managed_function(&cl, &python, &task, &vars);
    call_time(&client, &emu.function_url("/mcp"), || f.log());
}

/// examples/node-memory: server-memory on a nodejs22.x-style runtime, started relative to the
/// task root, its file where `MCP_LAMBDA_ENV` says; the graph outlives one client run.
#[test]
fn node_memory_runs_on_the_layer_and_keeps_its_graph_in_the_file_named() {
    let Some(cl) = cargo_lambda() else { return };
    let Some(client) = python_client() else {
        return;
    };
    let Some(node) = node() else { return };
    let task = fresh_dir("node-memory-task");
    std::fs::copy(
        example_dir("node-memory").join("package.json"),
        task.join("package.json"),
    )
    .unwrap();
    if link_node_modules(&task).is_none() {
        return;
    }
    let memory = scratch().join("node-memory.json");
    let mut vars = function_vars("node-memory", "lambda-env.json");
    replace_var(
        &mut vars,
        "MCP_LAMBDA_ENV",
        "MEMORY_FILE_PATH=/tmp/memory.json",
        &format!("MEMORY_FILE_PATH={}", path_str(&memory)),
    );
    let (emu, f) = managed_function(&cl, &node, &task, &vars);
    let url = emu.function_url("/mcp");
    create_entity(&client, &url, "mcp-lambda", || f.log());
    wait_file_contains(&memory, "mcp-lambda", Duration::from_secs(5), || f.log());

    // A second client run reads what the first one wrote.
    let answer = py_client(&client, &url, "auto", "read_graph", &json!({}));
    assert_modern_with_tools(&answer, &["read_graph"], &f.log());
    let graph = result_text(&answer);
    assert!(
        graph.contains("mcp-lambda") && graph.contains("runs stdio MCP servers on Lambda"),
        "the graph lost the entity: {answer}\n{}",
        f.log()
    );
}

/// examples/mcp-servers-json: one `mcp.json`, two functions: `time` on a Python runtime,
/// `memory` on a Node one, each selected by `MCP_LAMBDA_SERVER`, the config's relative paths and
/// `env` applied.
#[test]
fn mcp_servers_json_serves_each_entry_on_its_runtime() {
    let Some(cl) = cargo_lambda() else { return };
    let Some(client) = python_client() else {
        return;
    };
    let Some(site_packages) = time_site_packages() else {
        return;
    };
    let Some(python) = base_python() else { return };
    let Some(node) = node() else { return };

    let example = example_dir("mcp-servers-json");
    let task = fresh_dir("mcp-servers-json-task");
    std::fs::copy(example.join("package.json"), task.join("package.json")).unwrap();
    // mcp.json as shipped, but for the memory file's place.
    let memory = scratch().join("mcp-servers-json-memory.json");
    let mut config = read_json(&example.join("mcp.json"));
    let file = &mut config["mcpServers"]["memory"]["env"]["MEMORY_FILE_PATH"];
    assert_eq!(*file, "/tmp/memory.json");
    *file = json!(path_str(&memory));
    std::fs::write(task.join("mcp.json"), config.to_string()).unwrap();
    link_python_packages(&site_packages, &task);
    if link_node_modules(&task).is_none() {
        return;
    }

    let vars = function_vars("mcp-servers-json", "lambda-env-time.json");
    let (emu, f) = managed_function(&cl, &python, &task, &vars);
    call_time(&client, &emu.function_url("/mcp"), || f.log());
    drop((f, emu));

    let vars = function_vars("mcp-servers-json", "lambda-env-memory.json");
    let (emu, f) = managed_function(&cl, &node, &task, &vars);
    create_entity(
        &client,
        &emu.function_url("/mcp"),
        "mcp-servers-json",
        || f.log(),
    );
    wait_file_contains(&memory, "mcp-servers-json", Duration::from_secs(5), || {
        f.log()
    });
}

// ------------------------------------------------------------------------------ READMEs

/// Path components that the READMEs' own commands create (builds, installs, packages).
const CREATED: [&str; 9] = [
    "target",
    ".venv",
    "node_modules",
    "package",
    "package-time",
    "function.zip",
    "function-time.zip",
    "function-memory.zip",
    ".tools",
];

/// Extensions that make a word without `/` a file name.
const FILE_EXTENSIONS: [&str; 12] = [
    "txt", "json", "toml", "yaml", "yml", "tf", "rs", "py", "mjs", "js", "md", "zip",
];

/// The contents of a Markdown text's fenced code blocks, one string per block.
fn code_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(String::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert!(current.is_none(), "an unclosed code block");
    blocks
}

/// The words of a code block that name files: relative paths (with a `/` or a known
/// extension), `file://` / `fileb://` targets included; absolute paths (the Lambda sandbox's,
/// `/tmp`), URLs, variables, npm package names and MCP method names are not files here.
fn path_words(block: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut previous = "";
    for raw in block.split(|c: char| c.is_whitespace() || "\"'()=,;&|<>{}[]`".contains(c)) {
        let word = raw
            .strip_prefix("fileb://")
            .or_else(|| raw.strip_prefix("file://"))
            .unwrap_or(raw);
        let after_method = previous == "--method";
        if !raw.is_empty() {
            previous = raw;
        }
        if word.is_empty()
            || after_method
            || word.contains("://")
            || word.starts_with(['/', '$', '@', '-', '~', '#'])
        {
            continue;
        }
        let extension = word.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        if word.contains('/') || FILE_EXTENSIONS.contains(&extension) {
            words.push(word.to_string());
        }
    }
    words
}

/// `base/rel` with `.` and `..` resolved lexically.
fn normalize(base: &Path, rel: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The files a README's code blocks name that exist neither relative to the example's
/// directory nor to the repository root (the READMEs run their commands from there) and are
/// not created by the commands themselves.
fn missing_files(example: &Path, readme: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for block in code_blocks(readme) {
        for word in path_words(&block) {
            let created = Path::new(&word).components().any(|c| {
                CREATED
                    .iter()
                    .any(|name| c.as_os_str() == std::ffi::OsStr::new(name))
            });
            let found = [example, root().as_path()]
                .iter()
                .map(|base| normalize(base, &word))
                .any(|p| p.starts_with(root()) && p.exists());
            if !created && !found && !missing.contains(&word) {
                missing.push(word);
            }
        }
    }
    missing
}

/// Every example README gives a local run, a run under the emulator and a deploy snippet; its
/// code names only files that exist; it states each variable of its `lambda-env*.json` files
/// as they do; and the pins are the versions the tests above run.
#[test]
fn example_readmes_name_only_existing_files_and_agree_with_their_configs() {
    // The checker finds a planted mistake, and lets created and absolute paths be.
    let planted = "```sh\npip install -r examples/python-time/requirement.txt\n\
                   (cd examples/node-mem && npm install)\n\
                   cp target/debug/mcp-lambda /tmp/x/ && zip -qr ../function.zip .\n```\n";
    assert_eq!(
        missing_files(&example_dir("python-time"), planted),
        ["examples/python-time/requirement.txt", "examples/node-mem"]
    );

    for name in EXAMPLES {
        let dir = example_dir(name);
        let readme = read(&dir.join("README.md"));
        let missing = missing_files(&dir, &readme);
        assert!(
            missing.is_empty(),
            "examples/{name}/README.md names files that do not exist: {missing:?}"
        );
        for needle in [
            " serve",
            "cargo lambda watch --only-lambda-apis",
            "## Deploy it",
        ] {
            assert!(
                readme.contains(needle),
                "examples/{name}/README.md lacks {needle:?}"
            );
        }
        assert!(
            readme.contains("mcp-lambda -- serve") || readme.contains("mcp-lambda serve"),
            "examples/{name}/README.md: no local `mcp-lambda serve` command"
        );
        let deploy = &readme[readme.find("## Deploy it").unwrap()..];
        assert!(
            ["aws lambda create-function", "cargo lambda deploy"]
                .iter()
                .any(|d| deploy.contains(d)),
            "examples/{name}/README.md: no deploy command"
        );
        // The README says what the function's variables files say.
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if !(file.starts_with("lambda-env") && file.ends_with(".json")) {
                continue;
            }
            assert!(
                readme.contains(&format!("examples/{name}/{file}")),
                "examples/{name}/README.md never deploys with {file}"
            );
            for (k, v) in function_vars(name, &file) {
                assert!(
                    readme.contains(&format!("{k}={v}"))
                        || readme.contains(&format!("{k}=\"{v}\"")),
                    "examples/{name}/README.md does not state {k}={v} ({file})"
                );
            }
        }
    }

    // The pins: what the examples install is what the tests above run.
    let pin = |file: &str| read(&example_dir(file));
    for requirements in [
        "python-time/requirements.txt",
        "mcp-servers-json/requirements.txt",
    ] {
        let pins: Vec<String> = pin(requirements)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        assert_eq!(pins, ["mcp-server-time==2026.10.19"], "{requirements}");
    }
    if let Some(site_packages) = time_site_packages() {
        assert!(
            site_packages
                .join("mcp_server_time-2026.10.19.dist-info")
                .is_dir(),
            "the tests' mcp-server-time is not the examples' pin"
        );
    }
    let installed = node_module("@modelcontextprotocol/server-memory/package.json")
        .map(|p| read_json(&p)["version"].as_str().unwrap().to_string());
    for package in ["node-memory/package.json", "mcp-servers-json/package.json"] {
        let manifest: Value = serde_json::from_str(&pin(package)).unwrap();
        let deps = manifest["dependencies"].as_object().unwrap();
        assert_eq!(deps.len(), 1, "{package}: {deps:?}");
        let version = deps["@modelcontextprotocol/server-memory"]
            .as_str()
            .unwrap();
        assert_eq!(version, "2026.8.31", "{package}: pin exactly");
        if let Some(installed) = &installed {
            assert_eq!(
                installed, version,
                "tests/clients runs another server-memory"
            );
        }
    }
    let tests_pin = read_json(&root().join("tests/clients/package.json"));
    assert_eq!(
        tests_pin["dependencies"]["@modelcontextprotocol/server-memory"],
        "2026.8.31"
    );
}
