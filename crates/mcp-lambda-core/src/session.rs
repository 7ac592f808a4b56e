//! MCP sessions (`Mcp-Session-Id`) and where they are kept.
//!
//! Contract: a [`Session`] holds enough for any instance to initialize a fresh child exactly as
//! the client did (its initialize params and negotiated version) plus the caller's principal.
//! Ids come from a CSPRNG: 32 random bytes as 64 lowercase hex characters (visible ASCII,
//! as the spec requires). A store never returns an expired session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rand::RngCore;

/// One client's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The `Mcp-Session-Id`.
    pub id: String,
    /// The version negotiated in the client's initialize.
    pub protocol_version: String,
    /// The client's initialize `params`, raw JSON.
    pub init_params: Arc<str>,
    /// Who opened it (IAM ARN, JWT `sub`), if the front door knows.
    pub principal: Option<String>,
    /// When it was opened.
    pub created_at: SystemTime,
    /// Last request seen.
    pub last_seen: SystemTime,
    /// When it ends unless used again.
    pub expires_at: SystemTime,
}

/// Errors of a session store (the memory store never fails; remote stores can).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the operation.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The store holds as many live sessions as it may (`--max-sessions`).
    #[error("{0} sessions are open, the most this endpoint keeps; try again later")]
    Full(usize),
}

/// Where sessions live.
///
/// A client holds a *handle* (the `Mcp-Session-Id` value): the session id itself for stores
/// that keep state (memory, DynamoDB), or a sealed token carrying the whole session for
/// stateless stores. Inside the wrapper a session is always known by [`Session::id`].
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Saves a new session; returns the handle to send as `Mcp-Session-Id`.
    async fn create(&self, session: &Session) -> Result<String, StoreError>;
    /// The live (unexpired) session a handle designates, if any. Expired, unknown, tampered
    /// or foreign handles are all `Ok(None)`.
    async fn get(&self, handle: &str) -> Result<Option<Session>, StoreError>;
    /// Marks the session used at `now` (stores may skip writes that come too soon after the
    /// last one).
    async fn touch(
        &self,
        handle: &str,
        session: &Session,
        now: SystemTime,
    ) -> Result<(), StoreError>;
    /// Ends the session (the client's DELETE); `false` if there was none.
    async fn delete(&self, handle: &str, session: &Session) -> Result<bool, StoreError>;
    /// Whether sessions can be ended before they expire. Sealed tokens cannot be revoked
    /// without shared state: their DELETE is answered 405, as the spec allows.
    fn can_delete(&self) -> bool {
        true
    }
    /// How long a session lives without being used.
    fn idle_ttl(&self) -> Duration;
    /// When `session`, used at `now`, expires: one idle period later for stores that slide
    /// the expiry on use (memory, DynamoDB); sealed tokens keep the expiry they carry.
    fn expires_after_use(&self, session: &Session, now: SystemTime) -> SystemTime {
        session.expires_at.max(now + self.idle_ttl())
    }
}

/// Returns a new session id: 32 bytes from a CSPRNG (rand's thread RNG, ChaCha12 seeded and
/// periodically reseeded from the OS), hex encoded.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sessions in this process's memory: lost on restart, not shared between instances. At most
/// `max` are kept: expired ones are swept when the store is full, and a session that would be
/// one too many is refused ([`StoreError::Full`]).
#[derive(Debug)]
pub struct MemoryStore {
    ttl: Duration,
    max: usize,
    sessions: Mutex<HashMap<String, Session>>,
}

/// [`MemoryStore::new`]'s cap on sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

impl MemoryStore {
    /// A store whose sessions expire after `ttl` without use, at most
    /// [`DEFAULT_MAX_SESSIONS`] of them.
    pub fn new(ttl: Duration) -> Self {
        Self::with_limit(ttl, DEFAULT_MAX_SESSIONS)
    }

    /// A store of at most `max` live sessions (at least one).
    pub fn with_limit(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Session>>, StoreError> {
        self.sessions
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store poisoned".into()))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, session: &Session) -> Result<String, StoreError> {
        let mut map = self.lock()?;
        if map.len() >= self.max {
            // Swept only when full: each create stays O(1) until then.
            let now = SystemTime::now();
            map.retain(|_, s| s.expires_at > now);
            if map.len() >= self.max {
                return Err(StoreError::Full(self.max));
            }
        }
        map.insert(session.id.clone(), session.clone());
        Ok(session.id.clone())
    }

    async fn get(&self, handle: &str) -> Result<Option<Session>, StoreError> {
        let map = self.lock()?;
        Ok(map
            .get(handle)
            .filter(|s| s.expires_at > SystemTime::now())
            .cloned())
    }

    async fn touch(
        &self,
        handle: &str,
        _session: &Session,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut map = self.lock()?;
        if let Some(s) = map.get_mut(handle) {
            s.last_seen = now;
            s.expires_at = now + self.ttl;
        }
        Ok(())
    }

    async fn delete(&self, handle: &str, _session: &Session) -> Result<bool, StoreError> {
        Ok(self.lock()?.remove(handle).is_some())
    }

    fn idle_ttl(&self) -> Duration {
        self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_store_sweeps_expired_sessions_then_refuses() {
        let store = MemoryStore::with_limit(Duration::from_secs(60), 2);
        let now = SystemTime::now();
        let session = |id: &str, expires_at: SystemTime| Session {
            id: id.into(),
            protocol_version: "2025-11-25".into(),
            init_params: Arc::from("{}"),
            principal: None,
            created_at: now,
            last_seen: now,
            expires_at,
        };
        let later = now + Duration::from_secs(60);
        store.create(&session("a", later)).await.unwrap();
        store
            .create(&session("old", now - Duration::from_secs(1)))
            .await
            .unwrap();
        // Full: the expired one is swept to make room.
        store.create(&session("b", later)).await.unwrap();
        assert!(matches!(
            store.create(&session("c", later)).await,
            Err(StoreError::Full(2))
        ));
        assert!(store.get("a").await.unwrap().is_some());
    }

    fn session(id: &str, expires_in: Duration) -> Session {
        let now = SystemTime::now();
        Session {
            id: id.into(),
            protocol_version: "2025-06-18".into(),
            init_params: Arc::from("{}"),
            principal: None,
            created_at: now,
            last_seen: now,
            expires_at: now + expires_in,
        }
    }

    #[test]
    fn ids_are_random_visible_ascii() {
        let a = new_session_id();
        let b = new_session_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c)));
    }

    #[tokio::test]
    async fn memory_store_round_trip_expiry_and_delete() {
        let store = MemoryStore::new(Duration::from_secs(60));
        let a = session("a", Duration::from_secs(60));
        assert_eq!(store.create(&a).await.unwrap(), "a", "the handle is the id");
        store.create(&session("old", Duration::ZERO)).await.unwrap();
        assert!(store.get("a").await.unwrap().is_some());
        assert!(
            store.get("old").await.unwrap().is_none(),
            "expired sessions are never returned"
        );
        assert!(store.get("nope").await.unwrap().is_none());
        let later = SystemTime::now() + Duration::from_secs(30);
        store.touch("a", &a, later).await.unwrap();
        assert_eq!(store.get("a").await.unwrap().unwrap().last_seen, later);
        assert!(store.delete("a", &a).await.unwrap());
        assert!(!store.delete("a", &a).await.unwrap());
        assert!(store.get("a").await.unwrap().is_none());
    }
}
