//! PyPI `moto[server]`: a DynamoDB wire-compatible server on loopback, for the DynamoDB
//! session store.
//!
//! Contract: [`Moto::launch`] starts `moto_server` on a free port (its request log to a file
//! when asked) and returns once it answers as moto; it is killed when dropped.
//! [`aws_env`] points the AWS SDK at an endpoint with dummy credentials.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::paths::{require, root};
use crate::process::{ProcessGuard, accepts, free_addr};

/// A running `moto_server`, killed when dropped.
pub struct Moto {
    guard: ProcessGuard,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl Moto {
    /// `.tools/venv-moto/bin/moto_server` on a free port; `None` (skip) when moto is not
    /// installed, except under `CI=true` (panic).
    pub fn start() -> Option<Moto> {
        let bin = require(
            root().join(".tools/venv-moto/bin/moto_server"),
            "moto_server",
        )?;
        Some(Self::launch(&bin, None).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Starts `moto_server` at `bin` on a free loopback port, its output (one line per request)
    /// appended to `log` or discarded, and waits (up to 30 s) until it answers as moto.
    ///
    /// The port is free when picked but another process of the test run can take it before moto
    /// binds it (moto then exits, and a bare connect would reach the other process): readiness
    /// is moto's own `GET /moto-api/data.json` answering 200, and a lost port is retried on a
    /// fresh one (three attempts).
    pub fn launch(bin: &Path, log: Option<&Path>) -> io::Result<Moto> {
        if let Some(path) = log {
            std::fs::File::create(path)?;
        }
        let mut last = io::Error::other("moto did not start");
        for _ in 0..3 {
            match Self::launch_once(bin, log) {
                Ok(m) => return Ok(m),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn launch_once(bin: &Path, log: Option<&Path>) -> io::Result<Moto> {
        let addr = free_addr()?;
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
            .stdin(Stdio::null());
        match log {
            Some(path) => {
                let out = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                cmd.stderr(out.try_clone()?).stdout(out);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let mut guard = ProcessGuard::spawn_group("moto_server", &mut cmd)?.kill_on_drop();
        let endpoint = format!("http://{addr}");
        let start = Instant::now();
        loop {
            if let Some(st) = guard.exited()? {
                return Err(io::Error::other(format!("moto_server exited ({st})")));
            }
            if accepts(addr) && answers_as_moto(&endpoint) {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(io::Error::other(format!(
                    "moto did not answer on {addr} within 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Moto {
            guard,
            addr,
            endpoint,
        })
    }

    /// Fails if moto has exited.
    pub fn check_alive(&mut self) -> io::Result<()> {
        match self.guard.exited()? {
            Some(st) => Err(io::Error::other(format!("moto_server exited ({st})"))),
            None => Ok(()),
        }
    }

    /// The environment that points the AWS SDK at this server with dummy credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        aws_env(&self.endpoint)
    }

    /// Calls `target` (`AmazonSSM.PutParameter`, `secretsmanager.CreateSecret`, ...) of
    /// `service` with `body` (moto checks no signature); panics unless it answers 200.
    pub fn call(&self, service: &str, target: &str, body: &serde_json::Value) -> serde_json::Value {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
        );
        ureq::post(&self.endpoint)
            .set("content-type", "application/x-amz-json-1.1")
            .set("x-amz-target", target)
            .set("authorization", &auth)
            .send_string(&body.to_string())
            .unwrap_or_else(|e| panic!("moto {target}: {e}"))
            .into_json()
            .unwrap_or_else(|e| panic!("moto {target}: {e}"))
    }
}

/// Whether `GET {endpoint}/moto-api/data.json` answers 200, as moto's dashboard API does.
fn answers_as_moto(endpoint: &str) -> bool {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build()
        .get(&format!("{endpoint}/moto-api/data.json"))
        .call()
        .is_ok_and(|r| r.status() == 200)
}

/// The environment that points the AWS SDK's DynamoDB client, and our SSM and Secrets Manager
/// calls, at `endpoint` (a URL) with dummy credentials.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.to_owned()),
        ("AWS_ENDPOINT_URL_SSM", endpoint.to_owned()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}
