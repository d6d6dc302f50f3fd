//! Signed-in shoppers, and the keys the BFF speaks for them with (the vault key pattern): the
//! BFF decides who may read what and signs short-lived keys — a token per upstream call, a URL
//! per document — that a data service verifies with the BFF's public key, on its own.
//!
//! - `ring`: the key ring, and signing tokens and grants with its current key;
//! - `session`: sessions by a random id only the cookie holds, in Redis or in memory;
//! - `limit`: failed sign-ins counted per user and per client address.

mod limit;
mod ring;
mod session;

use std::sync::Arc;

use crate::cache::SharedCache;
use crate::config::IdentityConfig;
pub(crate) use limit::{Counted, SignInLimiter};
pub(crate) use ring::{KeyRing, RingError, Signer, default_kid, generate};
pub(crate) use session::{SessionError, Sessions, Shopper};

/// Identity in one generation of the application: its settings and signer, and the sessions
/// and counters every generation shares (a reload must sign nobody out).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) config: IdentityConfig,
    pub(crate) signer: Arc<Signer>,
    pub(crate) sessions: Sessions,
    pub(crate) limiter: SignInLimiter,
}

impl Identity {
    /// Identity from its settings, reusing `previous`'s sessions and counters when given.
    pub(crate) fn new(
        config: &IdentityConfig,
        shared: Option<&SharedCache>,
        previous: Option<&Identity>,
    ) -> Result<Self, RingError> {
        let ring = KeyRing::load(config)?;
        let signer = Arc::new(ring.signer(config)?);
        let (sessions, limiter) = match previous {
            Some(previous) => (previous.sessions.clone(), previous.limiter.clone()),
            None => (
                Sessions::new(shared.cloned()),
                SignInLimiter::new(shared.cloned()),
            ),
        };
        Ok(Self {
            config: config.clone(),
            signer,
            sessions,
            limiter,
        })
    }
}

/// A request made for a signed-in shopper: who, and the signer that speaks for them.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) shopper: Shopper,
    pub(crate) signer: Arc<Signer>,
}

impl Caller {
    /// A token for one call to `audience` (an upstream's name), signed for this shopper.
    pub(crate) fn token(&self, audience: &str) -> String {
        self.signer.token(&self.shopper, audience)
    }
}
