//! Who is signed in: asked of the BFF once when the app starts, changed by signing in and out
//! in this tab. Pages whose views hold a shopper's own parts load them again after each change
//! (see [`crate::loader::use_view`]).
//!
//! SECURITY: the page holds no token of any kind. The session is an `HttpOnly` cookie the BFF
//! sets and the browser sends; the page only learns the shopper's name, and keeps it in memory.

use leptos::prelude::*;

use crate::api::{self, SessionInfo, SignIn, SignInError};

/// What the page knows of the session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shopper {
    /// The first `GET /api/session` is on its way.
    Checking,
    /// This BFF has no sign-in (`/api/session` is not there).
    Off,
    SignedOut,
    SignedIn(SessionInfo),
}

/// The session, shared by the whole app through its context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session {
    pub shopper: RwSignal<Shopper>,
    /// Counts the sign-ins and sign-outs of this tab, each made once the BFF has set or
    /// cleared the cookie: what depends on who is signed in is loaded again when it moves.
    pub changes: RwSignal<u64>,
}

impl Session {
    /// Makes the app's session, provides it as context and asks who is signed in.
    pub(crate) fn provide() -> Self {
        let session = Self {
            shopper: RwSignal::new(Shopper::Checking),
            changes: RwSignal::new(0),
        };
        provide_context(session);
        session.recheck();
        session
    }

    /// Asks the BFF who is signed in, without counting it as a change: the requests made
    /// meanwhile carried the same cookie.
    pub(crate) fn recheck(self) {
        leptos::task::spawn_local(async move {
            let shopper = match api::whoami().await {
                Ok(Some(info)) => Shopper::SignedIn(info),
                Ok(None) => Shopper::SignedOut,
                Err(error) if error.status == Some(404) => Shopper::Off,
                // Unknown (the shop could not be reached): offer to sign in.
                Err(_) => Shopper::SignedOut,
            };
            // The same answer again changes nothing on the page (a half-typed form stays).
            if self.shopper.get_untracked() != shopper {
                self.shopper.set(shopper);
            }
        });
    }

    /// The shopper's name to show, if someone is signed in (tracked).
    pub(crate) fn name(self) -> Option<String> {
        self.shopper.with(|s| match s {
            Shopper::SignedIn(info) => Some(info.name.clone()),
            _ => None,
        })
    }

    /// Whether sign-in is off at this BFF (tracked).
    pub(crate) fn is_off(self) -> bool {
        self.shopper.with(|s| *s == Shopper::Off)
    }

    /// Signs in; once the cookie is set, the shopper is shown and their parts loaded.
    pub(crate) async fn sign_in(self, form: SignIn) -> Result<(), SignInError> {
        let info = api::sign_in(&form).await?;
        self.shopper.set(Shopper::SignedIn(info));
        self.changes.update(|n| *n += 1);
        Ok(())
    }

    /// Signs out; once the cookie is cleared, what the page held of the shopper is dropped
    /// and loaded again as nobody's.
    pub(crate) async fn sign_out(self) -> Result<(), api::ApiError> {
        api::sign_out().await?;
        self.shopper.set(Shopper::SignedOut);
        self.changes.update(|n| *n += 1);
        Ok(())
    }
}

/// The app's session. Outside the app (no context) a signed-out stand-in, so a component
/// still renders.
pub(crate) fn use_session() -> Session {
    use_context::<Session>().unwrap_or_else(|| Session {
        shopper: RwSignal::new(Shopper::SignedOut),
        changes: RwSignal::new(0),
    })
}
