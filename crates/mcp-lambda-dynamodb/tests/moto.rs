//! `DynamoStore` against a real DynamoDB emulator (moto, started by the tests) and against
//! failing endpoints (a closed port, a server that never answers, one that always throttles).
//!
//! moto comes from `scripts/install-tools` (`.tools/venv-moto`). Without it these tests print
//! `SKIPPED` and pass, except under `CI=true`, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveStatus,
};
use mcp_lambda_core::Session;
use mcp_lambda_core::session::{SessionStore, StoreError, new_session_id};
use mcp_lambda_dynamodb::{DynamoError, DynamoOptions, DynamoStore, http_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TTL: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------
// moto

/// A moto server process, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The moto server shared by the tests running now; started on first use, stopped when the
/// last test holding it ends. `None` (after printing SKIPPED) when moto is not installed.
fn moto(test: &str) -> Option<Arc<Moto>> {
    static SHARED: Mutex<Weak<Moto>> = Mutex::new(Weak::new());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root");
    let bin = root.join(".tools/venv-moto/bin/moto_server");
    if !bin.exists() {
        let msg = format!(
            "moto_server not found at {}: run scripts/install-tools",
            bin.display()
        );
        // CI set to anything but empty, 0 or false: a missing tool fails.
        let ci = std::env::var("CI")
            .is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"));
        if ci {
            panic!("{msg} (required under CI=true)");
        }
        eprintln!("SKIPPED: {test}: {msg}");
        return None;
    }
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = shared.upgrade() {
        return Some(m);
    }
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Arc::new(Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    });
    wait_http(port, Duration::from_secs(30));
    *shared = Arc::downgrade(&moto);
    Some(moto)
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until something answers HTTP on `port` (moto's `/moto-api/`).
fn wait_http(port: u16, limit: Duration) {
    use std::io::{Read, Write};
    let start = Instant::now();
    loop {
        if let Ok(mut s) = StdStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
            let mut head = [0u8; 12];
            if s.write_all(req.as_bytes()).is_ok()
                && s.read_exact(&mut head).is_ok()
                && head.starts_with(b"HTTP/1.1 200")
            {
                return;
            }
        }
        assert!(
            start.elapsed() < limit,
            "moto_server did not answer on port {port} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A DynamoDB client for `endpoint` with dummy credentials, set on the config (not the
/// process environment).
fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .http_client(http_client())
        .build();
    Client::from_conf(conf)
}

fn table_name(test: &str) -> String {
    format!("{test}-{}", &new_session_id()[..8])
}

/// A store on a fresh table (created through the store) of the shared moto server.
async fn store_on_moto(test: &str, opts: DynamoOptions) -> Option<(Arc<Moto>, DynamoStore)> {
    let moto = moto(test)?;
    let store = DynamoStore::new(client(&moto.endpoint), table_name(test), TTL, opts)
        .expect("valid table name");
    store.create_table().await.expect("create table");
    Some((moto, store))
}

/// A session whose times are already in the stored units (ms; whole seconds for expiry), so a
/// round trip compares equal.
fn session(principal: Option<&str>, expires_in_secs: i64) -> Session {
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let now = UNIX_EPOCH + Duration::from_millis(now_ms);
    let now_s = now_ms / 1000;
    let expires = now_s.checked_add_signed(expires_in_secs).unwrap();
    Session {
        id: new_session_id(),
        protocol_version: "2025-06-18".into(),
        init_params: Arc::from(
            r#"{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"t","version":"1.0"},"_meta":{"x":1.50}}"#,
        ),
        principal: principal.map(str::to_owned),
        created_at: now - Duration::from_millis(1500),
        last_seen: now,
        expires_at: UNIX_EPOCH + Duration::from_secs(expires),
    }
}

/// The raw item, read behind the store's back.
async fn raw_item(
    store: &DynamoStore,
    id: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("session_id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("raw GetItem")
        .item
}

fn n(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> u64 {
    item[name]
        .as_n()
        .expect("N attribute")
        .parse()
        .expect("number")
}

fn unavailable(e: StoreError) -> String {
    match e {
        StoreError::Unavailable(msg) => {
            eprintln!("unavailable: {msg}");
            msg
        }
        other => panic!("expected the store to be unavailable, got {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// against moto

#[tokio::test]
async fn create_table_is_idempotent_and_enables_ttl() {
    let Some(moto) = moto("create_table_is_idempotent_and_enables_ttl") else {
        return;
    };
    let store = DynamoStore::new(
        client(&moto.endpoint),
        table_name("create_table_is_idempotent_and_enables_ttl"),
        TTL,
        DynamoOptions::default(),
    )
    .unwrap();
    let first = store.create_table().await.unwrap();
    assert!(first.created && first.ttl_enabled, "{first}");
    let again = store.create_table().await.unwrap();
    assert!(!again.created && !again.ttl_enabled, "{again}");

    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name.as_deref(), Some("expires_at"));

    let table = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys = table.key_schema();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].attribute_name(), "session_id");
    assert_eq!(
        table.billing_mode_summary.and_then(|b| b.billing_mode),
        Some(BillingMode::PayPerRequest)
    );
}

#[tokio::test]
async fn create_get_round_trip_keeps_every_field() {
    let Some((_moto, store)) = store_on_moto(
        "create_get_round_trip_keeps_every_field",
        DynamoOptions::default(),
    )
    .await
    else {
        return;
    };
    for principal in [Some("arn:aws:iam::123456789012:user/alice"), None] {
        let s = session(principal, 3600);
        assert_eq!(
            store.create(&s).await.unwrap(),
            s.id,
            "the handle is the id"
        );
        assert_eq!(store.get(&s.id).await.unwrap(), Some(s.clone()));

        let item = raw_item(&store, &s.id).await.unwrap();
        assert_eq!(item["init_params"].as_s().unwrap(), &*s.init_params);
        assert_eq!(item["protocol_version"].as_s().unwrap(), "2025-06-18");
        assert_eq!(item.contains_key("principal"), principal.is_some());
        let expires = n(&item, "expires_at");
        let created = n(&item, "created_at");
        assert_eq!(
            expires,
            s.expires_at.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            "expires_at is epoch seconds"
        );
        assert_eq!(
            u128::from(created),
            s.created_at.duration_since(UNIX_EPOCH).unwrap().as_millis(),
            "created_at is epoch milliseconds"
        );
    }
}

#[tokio::test]
async fn a_colliding_create_is_an_error_and_overwrites_nothing() {
    let Some((_moto, store)) = store_on_moto(
        "a_colliding_create_is_an_error_and_overwrites_nothing",
        DynamoOptions::default(),
    )
    .await
    else {
        return;
    };
    let first = session(Some("alice"), 3600);
    store.create(&first).await.unwrap();
    let mut second = session(Some("mallory"), 3600);
    second.id = first.id.clone();
    let msg = unavailable(store.create(&second).await.unwrap_err());
    assert!(msg.contains("already exists"), "{msg}");
    assert!(msg.contains(store.table()), "{msg}");
    assert_eq!(store.get(&first.id).await.unwrap(), Some(first));
}

#[tokio::test]
async fn unknown_invalid_and_expired_handles_are_none() {
    let Some((_moto, store)) = store_on_moto(
        "unknown_invalid_and_expired_handles_are_none",
        DynamoOptions::default(),
    )
    .await
    else {
        return;
    };
    assert_eq!(store.get(&new_session_id()).await.unwrap(), None);
    for bad in ["", "has space", "tab\there", "é", &"a".repeat(129)] {
        assert_eq!(store.get(bad).await.unwrap(), None, "{bad:?}");
    }
    let old = session(None, -1);
    store.create(&old).await.unwrap();
    assert!(
        raw_item(&store, &old.id).await.is_some(),
        "the expired item is still in the table (TTL deletion is lazy)"
    );
    assert_eq!(
        store.get(&old.id).await.unwrap(),
        None,
        "but never returned"
    );
}

#[tokio::test]
async fn invalid_handles_never_reach_dynamodb() {
    // Nothing listens here: a call would fail, so Ok answers prove no call was made.
    let store = DynamoStore::new(
        client(&format!("http://127.0.0.1:{}", free_port())),
        "never-called".into(),
        TTL,
        DynamoOptions::default(),
    )
    .unwrap();
    let s = session(None, 3600);
    for bad in ["", "a b", &"x".repeat(200)] {
        assert_eq!(store.get(bad).await.unwrap(), None);
        assert!(!store.delete(bad, &s).await.unwrap());
        store.touch(bad, &s, SystemTime::now() + TTL).await.unwrap();
    }
    let mut bad = session(None, 3600);
    bad.id = "not visible ascii".into();
    assert!(store.create(&bad).await.is_err());
}

#[tokio::test]
async fn touch_writes_at_most_once_per_interval() {
    let opts = DynamoOptions {
        touch_interval: Duration::from_secs(60),
        ..DynamoOptions::default()
    };
    let Some((_moto, store)) = store_on_moto("touch_writes_at_most_once_per_interval", opts).await
    else {
        return;
    };
    let s = session(None, 3600);
    store.create(&s).await.unwrap();
    let before = raw_item(&store, &s.id).await.unwrap();

    store
        .touch(&s.id, &s, s.last_seen + Duration::from_secs(59))
        .await
        .unwrap();
    assert_eq!(
        raw_item(&store, &s.id).await.unwrap(),
        before,
        "within the interval: no write"
    );

    let later = s.last_seen + Duration::from_secs(61);
    store.touch(&s.id, &s, later).await.unwrap();
    let after = raw_item(&store, &s.id).await.unwrap();
    let later_ms = later.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert_eq!(u128::from(n(&after, "last_seen")), later_ms);
    assert_eq!(
        n(&after, "expires_at"),
        (later + TTL).duration_since(UNIX_EPOCH).unwrap().as_secs()
    );
    let got = store.get(&s.id).await.unwrap().unwrap();
    assert_eq!(
        got.last_seen,
        UNIX_EPOCH + Duration::from_millis(u64::try_from(later_ms).unwrap())
    );

    // An older touch (another instance, late) never moves last_seen backwards.
    store
        .touch(&s.id, &s, s.last_seen + Duration::from_secs(61 - 1))
        .await
        .unwrap();
    assert_eq!(raw_item(&store, &s.id).await.unwrap(), after);

    // An expired session is not extended by a touch.
    let old = session(None, -1);
    store.create(&old).await.unwrap();
    let stored = raw_item(&store, &old.id).await.unwrap();
    store
        .touch(&old.id, &old, old.last_seen + Duration::from_secs(61))
        .await
        .unwrap();
    assert_eq!(raw_item(&store, &old.id).await.unwrap(), stored);

    // A deleted session is not resurrected by a touch.
    assert!(store.delete(&s.id, &s).await.unwrap());
    store
        .touch(&s.id, &s, s.last_seen + Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(raw_item(&store, &s.id).await, None);
}

#[tokio::test]
async fn delete_checks_the_principal() {
    let Some((_moto, store)) =
        store_on_moto("delete_checks_the_principal", DynamoOptions::default()).await
    else {
        return;
    };
    let alice = session(Some("alice"), 3600);
    store.create(&alice).await.unwrap();

    let mut mallory = alice.clone();
    mallory.principal = Some("mallory".into());
    assert!(!store.delete(&alice.id, &mallory).await.unwrap());
    let mut nobody = alice.clone();
    nobody.principal = None;
    assert!(!store.delete(&alice.id, &nobody).await.unwrap());
    assert_eq!(
        store.get(&alice.id).await.unwrap(),
        Some(alice.clone()),
        "a wrong principal deletes nothing"
    );

    assert!(store.delete(&alice.id, &alice).await.unwrap());
    assert_eq!(store.get(&alice.id).await.unwrap(), None);
    assert!(
        !store.delete(&alice.id, &alice).await.unwrap(),
        "already gone"
    );

    let anonymous = session(None, 3600);
    store.create(&anonymous).await.unwrap();
    let mut claimed = anonymous.clone();
    claimed.principal = Some("alice".into());
    assert!(!store.delete(&anonymous.id, &claimed).await.unwrap());
    assert!(store.delete(&anonymous.id, &anonymous).await.unwrap());
    assert!(
        !store.delete(&new_session_id(), &anonymous).await.unwrap(),
        "unknown id"
    );
}

#[tokio::test]
async fn a_missing_table_is_unavailable_within_the_budget() {
    let Some(moto) = moto("a_missing_table_is_unavailable_within_the_budget") else {
        return;
    };
    let budget = Duration::from_secs(1);
    let store = DynamoStore::new(
        client(&moto.endpoint),
        "no-such-table".into(),
        TTL,
        DynamoOptions {
            operation_timeout: budget,
            ..DynamoOptions::default()
        },
    )
    .unwrap();
    let start = Instant::now();
    let msg = unavailable(store.get(&new_session_id()).await.unwrap_err());
    assert!(start.elapsed() < budget + Duration::from_secs(1));
    assert!(
        msg.contains("no-such-table") && msg.contains("does not exist"),
        "{msg}"
    );
    let start = Instant::now();
    let msg = unavailable(store.create(&session(None, 60)).await.unwrap_err());
    assert!(start.elapsed() < budget + Duration::from_secs(1));
    assert!(msg.contains("PutItem"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// failing endpoints (no moto needed)

fn store_at(addr: &str, budget: Duration) -> DynamoStore {
    DynamoStore::new(
        client(addr),
        "sessions".into(),
        TTL,
        DynamoOptions {
            operation_timeout: budget,
            attempt_timeout: budget / 3,
            ..DynamoOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn an_endpoint_that_is_down_is_unavailable_within_the_budget() {
    let budget = Duration::from_secs(2);
    let store = store_at(&format!("http://127.0.0.1:{}", free_port()), budget);
    let start = Instant::now();
    let msg = unavailable(store.get(&new_session_id()).await.unwrap_err());
    let elapsed = start.elapsed();
    assert!(elapsed < budget + Duration::from_secs(1), "{elapsed:?}");
    assert!(
        msg.contains("\"sessions\"") && msg.contains("could not reach"),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("connection refused"), "{msg}");
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_unavailable_within_the_budget() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock); // accept, read nothing, answer nothing
        }
    });
    let budget = Duration::from_millis(1500);
    let store = store_at(&format!("http://{addr}"), budget);
    let start = Instant::now();
    let msg = unavailable(store.get(&new_session_id()).await.unwrap_err());
    let elapsed = start.elapsed();
    assert!(elapsed < budget + Duration::from_secs(1), "{elapsed:?}");
    assert!(
        elapsed >= budget - Duration::from_millis(100),
        "{elapsed:?}"
    );
    assert!(msg.contains("\"sessions\""), "{msg}");
    assert!(msg.contains("did not complete within"), "{msg}");
    hold.abort();
}

/// A fake DynamoDB that answers every request `400 <error>` (e.g. `ThrottlingException`);
/// returns its address and the number of requests it has answered.
async fn failing_endpoint(error: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Read one request: headers, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    buf.drain(..head_end + len);
                    seen.fetch_add(1, Ordering::SeqCst);
                    let body = format!(
                        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{error}","message":"fake {error}"}}"#
                    );
                    let resp = format!(
                        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-ErrorType: {error}\r\nx-amzn-RequestId: fake\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, count)
}

#[tokio::test]
async fn throttling_is_retried_then_unavailable_within_the_budget() {
    let (addr, count) = failing_endpoint("ThrottlingException").await;
    let budget = Duration::from_secs(2);
    let store = store_at(&format!("http://{addr}"), budget);
    let attempts = store.options().max_attempts as usize;
    assert!(attempts > 1);

    let start = Instant::now();
    let msg = unavailable(store.get(&new_session_id()).await.unwrap_err());
    let elapsed = start.elapsed();
    assert!(elapsed < budget + Duration::from_secs(1), "{elapsed:?}");
    assert!(
        msg.contains("\"sessions\"") && msg.contains("throttled"),
        "{msg}"
    );
    assert!(msg.contains("ThrottlingException"), "{msg}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        attempts,
        "the SDK retried up to max_attempts"
    );

    count.store(0, Ordering::SeqCst);
    let msg = unavailable(store.create(&session(None, 60)).await.unwrap_err());
    assert!(
        msg.contains("PutItem") && msg.contains("throttled"),
        "{msg}"
    );
    assert_eq!(count.load(Ordering::SeqCst), attempts);
}

#[tokio::test]
async fn a_missing_table_is_retried_then_unavailable() {
    let (addr, count) = failing_endpoint("ResourceNotFoundException").await;
    let budget = Duration::from_secs(2);
    let store = store_at(&format!("http://{addr}"), budget);
    let start = Instant::now();
    let msg = unavailable(store.get(&new_session_id()).await.unwrap_err());
    assert!(start.elapsed() < budget + Duration::from_secs(1));
    assert!(msg.contains("\"sessions\" does not exist"), "{msg}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        store.options().max_attempts as usize,
        "a missing table is retried too (it may be being created)"
    );
}

#[tokio::test]
async fn other_refusals_are_not_retried() {
    let (addr, count) = failing_endpoint("AccessDeniedException").await;
    let store = store_at(&format!("http://{addr}"), Duration::from_secs(2));
    let msg = unavailable(store.get(&new_session_id()).await.unwrap_err());
    assert!(
        msg.contains("GetItem failed: AccessDeniedException: fake"),
        "{msg}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn create_table_refuses_a_table_keyed_otherwise() {
    let Some(moto) = moto("create_table_refuses_a_table_keyed_otherwise") else {
        return;
    };
    let store = DynamoStore::new(
        client(&moto.endpoint),
        table_name("create_table_refuses_a_table_keyed_otherwise"),
        TTL,
        DynamoOptions::default(),
    )
    .unwrap();
    store
        .client()
        .create_table()
        .table_name(store.table())
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = store.create_table().await.unwrap_err();
    assert!(matches!(err, DynamoError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains("[id (HASH)]"), "{err}");
}

/// Set in the child process `from_env_follows_the_sdk_environment` starts: the table to use.
const CHILD: &str = "MCP_LAMBDA_DYNAMODB_TEST_CHILD";

#[tokio::test]
async fn from_env_follows_the_sdk_environment() {
    if let Ok(table) = std::env::var(CHILD) {
        // The child: only the environment says where DynamoDB is.
        let result = DynamoStore::from_env(table.clone(), TTL, DynamoOptions::default()).await;
        if table == "no-region" {
            assert!(matches!(result, Err(DynamoError::NoRegion)), "{result:?}");
            return;
        }
        let store = result.unwrap();
        assert!(store.create_table().await.unwrap().created);
        let s = session(Some("env"), 3600);
        store.create(&s).await.unwrap();
        assert_eq!(store.get(&s.id).await.unwrap(), Some(s));
        return;
    }
    let Some(moto) = moto("from_env_follows_the_sdk_environment") else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let run = |table: &str, env: &[(&str, &str)]| {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "from_env_follows_the_sdk_environment",
                "--nocapture",
            ])
            .env_clear()
            .env(CHILD, table)
            .env("HOME", "/nonexistent") // no ~/.aws profile
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child for {table}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ep = moto.endpoint.as_str();
    run(
        &table_name("from_env_service_endpoint"),
        &[
            ("AWS_ENDPOINT_URL_DYNAMODB", ep),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    run(
        &table_name("from_env_global_endpoint"),
        &[
            ("AWS_ENDPOINT_URL", ep),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ],
    );
    run("no-region", &[("AWS_ENDPOINT_URL", ep)]);
}
