//! Sessions: a random id that only the cookie holds, and what it stands for, kept under a
//! hash of the id — in Redis when the BFF has one (every replica sees a sign-out at once),
//! in memory otherwise.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tessera_contract::keys;

use crate::cache::{SharedCache, SharedError};

/// Where sessions live in Redis, under the hash of their id.
const KEY_PREFIX: &str = "tessera:session:";
/// Sessions a replica holds in memory at most (without Redis).
const MAX_LOCAL_SESSIONS: u64 = 100_000;

/// A signed-in shopper, as the accounts service named them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Shopper {
    /// The accounts service's id (a token's `sub`).
    pub(crate) id: String,
    /// The login name.
    pub(crate) user: String,
    pub(crate) name: String,
}

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    shopper: Shopper,
    expires_at: u64,
}

/// Drops a session from memory when it ends.
struct UntilEnded;

impl moka::Expiry<String, Arc<Stored>> for UntilEnded {
    fn expire_after_create(
        &self,
        _key: &String,
        stored: &Arc<Stored>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(
            stored.expires_at.saturating_sub(keys::now_s()),
        ))
    }
}

/// The session store could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("the session store is unavailable: {0}")]
pub(crate) struct SessionError(#[from] SharedError);

/// Every replica's sessions (Redis), or this replica's (memory).
#[derive(Clone)]
pub(crate) struct Sessions {
    shared: Option<SharedCache>,
    local: moka::sync::Cache<String, Arc<Stored>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("shared", &self.shared.is_some())
            .field("local", &self.local.entry_count())
            .finish()
    }
}

impl Sessions {
    pub(crate) fn new(shared: Option<SharedCache>) -> Self {
        Self {
            shared,
            local: moka::sync::Cache::builder()
                .max_capacity(MAX_LOCAL_SESSIONS)
                .expire_after(UntilEnded)
                .build(),
        }
    }

    /// Opens a session for `shopper`: its id (for the cookie only) and when it ends.
    pub(crate) async fn open(
        &self,
        shopper: Shopper,
        ttl: Duration,
    ) -> Result<(String, u64), SessionError> {
        let id = keys::random_token(32);
        let expires_at = keys::now_s() + ttl.as_secs();
        let stored = Stored {
            shopper,
            expires_at,
        };
        match &self.shared {
            Some(shared) => {
                let bytes = serde_json::to_vec(&stored).expect("sessions serialize");
                shared.set_value(&store_key(&id), bytes, ttl).await?;
            }
            None => self.local.insert(store_key(&id), Arc::new(stored)),
        }
        Ok((id, expires_at))
    }

    /// The shopper a session id stands for, and when it ends; `None` for an unknown, ended
    /// or revoked session.
    pub(crate) async fn find(&self, id: &str) -> Result<Option<(Shopper, u64)>, SessionError> {
        if !plausible(id) {
            return Ok(None);
        }
        let stored = match &self.shared {
            Some(shared) => shared
                .value(&store_key(id))
                .await?
                .and_then(|bytes| serde_json::from_slice::<Stored>(&bytes).ok())
                .map(Arc::new),
            None => self.local.get(&store_key(id)),
        };
        Ok(stored
            .filter(|s| s.expires_at > keys::now_s())
            .map(|s| (s.shopper.clone(), s.expires_at)))
    }

    /// Ends a session everywhere.
    pub(crate) async fn revoke(&self, id: &str) -> Result<(), SessionError> {
        if !plausible(id) {
            return Ok(());
        }
        match &self.shared {
            Some(shared) => shared.delete_value(&store_key(id)).await?,
            None => self.local.invalidate(&store_key(id)),
        }
        Ok(())
    }
}

/// SECURITY: the store is keyed by a hash of the id, so what Redis (or a dump of it) holds
/// cannot be replayed as a cookie.
fn store_key(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{KEY_PREFIX}{hex}")
}

/// What a session id can look like (43 base64url characters); anything else is not looked up.
fn plausible(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Shopper {
        Shopper {
            id: "1".into(),
            user: "alice".into(),
            name: "Alice Archer".into(),
        }
    }

    #[tokio::test]
    async fn sessions_open_find_and_revoke_in_memory() {
        let sessions = Sessions::new(None);
        let (id, expires_at) = sessions
            .open(alice(), Duration::from_secs(60))
            .await
            .unwrap();
        assert!(plausible(&id), "{id}");
        let (found, until) = sessions.find(&id).await.unwrap().unwrap();
        assert_eq!((found, until), (alice(), expires_at));
        assert!(sessions.find("x").await.unwrap().is_none());
        sessions.revoke(&id).await.unwrap();
        assert!(sessions.find(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_ended_session_is_not_found() {
        let sessions = Sessions::new(None);
        let (id, _) = sessions.open(alice(), Duration::ZERO).await.unwrap();
        assert!(sessions.find(&id).await.unwrap().is_none());
    }

    #[test]
    fn the_store_never_holds_the_id() {
        let id = keys::random_token(32);
        assert!(!store_key(&id).contains(&id));
    }
}
