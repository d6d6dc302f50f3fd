//! The BFF's public keys as a service holds them: read from a key folder at start, and read
//! again when the folder changes or a token names a key the service does not hold yet, so a
//! rotated key is picked up without a restart — and without calling the BFF.
//!
//! The folder is looked at no more than once a second (a stat of the folder, and a re-read when
//! its modification time moved or a kid was unknown), so a flood of tokens with made-up kids
//! costs at most one read a second. A re-read that fails (a half-copied `.pub`, a removed folder)
//! keeps the keys already held and is logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tessera_contract::keys::{Claims, GrantError, GrantQuery, KeyError, TokenError, Verifier};
use tokio::time::Instant;

/// The least time between two looks at the folder. Measured on Tokio's clock, so tests can
/// pause and advance it.
const RECHECK: Duration = Duration::from_secs(1);

/// A key folder and the public keys last read from it. Share it as `Arc<KeyRing>`.
#[derive(Debug)]
pub struct KeyRing {
    dir: PathBuf,
    // A std Mutex, not a Tokio one: nothing awaits while holding it.
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    verifier: Arc<Verifier>,
    /// When the folder was last looked at.
    checked: Instant,
    /// Its modification time then (`None` when it could not be read).
    modified: Option<SystemTime>,
}

impl KeyRing {
    /// Reads the `<kid>.pub` files of `dir`. A missing or empty folder is not an error (the keys
    /// may be written later, and are then picked up); a file that is not a public key is.
    pub fn open(dir: &Path) -> Result<Arc<Self>, KeyError> {
        let modified = modified(dir);
        let verifier = if dir.exists() {
            Verifier::from_dir(dir)?
        } else {
            Verifier::new()
        };
        if verifier.kids().is_empty() {
            tracing::warn!(dir = %dir.display(), "no public keys yet: every token is refused until one is written");
        } else {
            tracing::info!(dir = %dir.display(), kids = ?verifier.kids(), "public keys read");
        }
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            state: Mutex::new(State {
                verifier: Arc::new(verifier),
                checked: Instant::now(),
                modified,
            }),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key ids held now.
    pub fn kids(&self) -> Vec<String> {
        self.lock().verifier.kids()
    }

    /// [`Verifier::token`] with the keys held, re-read first when due.
    pub async fn token(
        self: &Arc<Self>,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<Claims, TokenError> {
        self.check(
            |v| v.token(token, audience, now),
            |e| matches!(e, TokenError::UnknownKey(_)),
        )
        .await
    }

    /// [`Verifier::grant`] with the keys held, re-read first when due.
    pub async fn grant(
        self: &Arc<Self>,
        method: &str,
        path: &str,
        query: &GrantQuery,
        now: u64,
    ) -> Result<String, GrantError> {
        self.check(
            |v| v.grant(method, path, query, now),
            |e| matches!(e, GrantError::UnknownKey(_)),
        )
        .await
    }

    /// Runs `verify` with the keys held. When the folder is due for a look (once a second, the
    /// first request to notice claims it), it is re-read if it changed or if the answer was
    /// an unknown kid, and `verify` runs again when the keys differ: a new key verifies at once,
    /// a removed one stops verifying at once.
    async fn check<T, E>(
        self: &Arc<Self>,
        verify: impl Fn(&Verifier) -> Result<T, E>,
        unknown: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let (held, due) = {
            let mut state = self.lock();
            let due = state.checked.elapsed() >= RECHECK;
            if due {
                state.checked = Instant::now();
            }
            (Arc::clone(&state.verifier), due)
        };
        let result = verify(&held);
        if !due {
            return result;
        }
        let force = result.as_ref().err().is_some_and(unknown);
        let ring = Arc::clone(self);
        let fresh = match tokio::task::spawn_blocking(move || ring.reread(force)).await {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::warn!(error = %e, "re-reading the key folder failed");
                return result;
            }
        };
        if Arc::ptr_eq(&fresh, &held) {
            result
        } else {
            verify(&fresh)
        }
    }

    /// Re-reads the folder if `force` or if its modification time moved; returns the keys held
    /// afterwards. Blocking: runs on a blocking thread.
    fn reread(&self, force: bool) -> Arc<Verifier> {
        let modified = modified(&self.dir);
        let current = {
            let state = self.lock();
            if !force && modified == state.modified {
                return Arc::clone(&state.verifier);
            }
            Arc::clone(&state.verifier)
        };
        match Verifier::from_dir(&self.dir) {
            Ok(verifier) => {
                let kids = verifier.kids();
                if kids != current.kids() {
                    tracing::info!(dir = %self.dir.display(), ?kids, "public keys re-read");
                }
                let fresh = Arc::new(verifier);
                let mut state = self.lock();
                state.verifier = Arc::clone(&fresh);
                state.modified = modified;
                fresh
            }
            Err(e) => {
                // The folder's time is not recorded: the next look tries again (a `.pub` being
                // written in place changes the file, not the folder).
                tracing::warn!(error = %e, "cannot re-read the public keys; keeping those held");
                current
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn modified(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_contract::keys::{ISSUER, SigningKey};

    const NOW: u64 = 1_800_000_000;

    fn token(key: &SigningKey) -> String {
        key.token(&Claims {
            sub: "1".into(),
            name: "Alice Archer".into(),
            aud: "accounts".into(),
            iss: ISSUER.into(),
            iat: NOW,
            exp: NOW + 30,
        })
    }

    async fn check(ring: &Arc<KeyRing>, key: &SigningKey) -> Result<Claims, TokenError> {
        ring.token(&token(key), "accounts", NOW).await
    }

    #[tokio::test(start_paused = true)]
    async fn keys_added_or_removed_are_seen_within_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let old = SigningKey::generate("old").unwrap();
        old.write_to(dir.path()).unwrap();
        let ring = KeyRing::open(dir.path()).unwrap();
        assert!(check(&ring, &old).await.is_ok());

        let new = SigningKey::generate("new").unwrap();
        new.write_to(dir.path()).unwrap();
        assert_eq!(
            check(&ring, &new).await,
            Err(TokenError::UnknownKey("new".into())),
            "the folder was looked at less than a second ago"
        );
        tokio::time::advance(RECHECK).await;
        assert!(check(&ring, &new).await.is_ok(), "an unknown kid re-reads");
        assert!(
            check(&ring, &old).await.is_ok(),
            "the old key still verifies"
        );
        assert_eq!(ring.kids(), ["new", "old"]);

        std::fs::remove_file(dir.path().join("old.pub")).unwrap();
        tokio::time::advance(RECHECK).await;
        assert_eq!(
            check(&ring, &old).await,
            Err(TokenError::UnknownKey("old".into())),
            "a removed key stops verifying once the folder is looked at again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_file_or_a_missing_folder_keeps_the_keys_held() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let ring = KeyRing::open(&keys).unwrap();
        assert!(ring.kids().is_empty(), "no folder yet: no keys, no error");

        let key = SigningKey::generate("k1").unwrap();
        key.write_to(&keys).unwrap();
        tokio::time::advance(RECHECK).await;
        assert!(check(&ring, &key).await.is_ok(), "the folder appeared");

        std::fs::write(keys.join("broken.pub"), "half a key").unwrap();
        tokio::time::advance(RECHECK).await;
        assert!(check(&ring, &key).await.is_ok());
        assert_eq!(ring.kids(), ["k1"]);

        assert!(
            KeyRing::open(&keys).is_err(),
            "at start a broken file is an error"
        );
    }
}
