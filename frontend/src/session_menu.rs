//! The header's part of the session: a sign-in form for nobody, and for a shopper their name,
//! a link to their account and a way to sign out.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::{SignIn, SignInError};
use crate::session::{Shopper, use_session};

/// The id of the header's user field, which prompts elsewhere focus ("Sign in" buttons).
pub(crate) const SIGN_IN_FIELD: &str = "signin-user";

/// Moves the focus to the header's sign-in form (from a prompt to sign in).
pub(crate) fn focus_sign_in() {
    use wasm_bindgen::JsCast;
    if let Some(field) = document()
        .get_element_by_id(SIGN_IN_FIELD)
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = field.focus();
    }
}

/// What the form says when a sign-in failed.
fn refusal(error: &SignInError) -> String {
    match error {
        SignInError::Refused => "Wrong user name or password.".to_owned(),
        SignInError::TooMany {
            retry_after_s: Some(seconds),
        } => format!("Too many attempts — try again in {seconds} s"),
        SignInError::TooMany {
            retry_after_s: None,
        } => "Too many attempts — try again later".to_owned(),
        SignInError::Failed(error) => format!("Could not sign in: {error}"),
    }
}

#[component]
pub(crate) fn SessionMenu() -> impl IntoView {
    let session = use_session();
    move || match session.shopper.get() {
        // Nothing until the BFF said, so that a signed-in shopper is not offered the form.
        Shopper::Checking => {
            view! { <div class="session" data-testid="session" aria-busy="true"></div> }.into_any()
        }
        Shopper::Off => ().into_any(),
        Shopper::SignedOut => view! { <SignInForm /> }.into_any(),
        Shopper::SignedIn(info) => view! { <SignedIn name=info.name /> }.into_any(),
    }
}

/// The sign-in form. The fields are read on submit and the password field emptied at once, so
/// the password is held nowhere but in the request.
#[component]
fn SignInForm() -> impl IntoView {
    let session = use_session();
    let user = NodeRef::<leptos::html::Input>::new();
    let password = NodeRef::<leptos::html::Input>::new();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        let (Some(user), Some(password)) = (user.get(), password.get()) else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        let form = SignIn {
            user: user.value().trim().to_owned(),
            password: password.value(),
        };
        password.set_value("");
        if form.user.is_empty() || form.password.is_empty() {
            error.set(Some("Enter your user name and password.".into()));
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            // Signed in, this form is gone (and its signals with it).
            if let Err(refused) = session.sign_in(form).await {
                busy.try_set(false);
                error.try_set(Some(refusal(&refused)));
            }
        });
    };
    view! {
        <form class="session signin-form" data-testid="session" on:submit=submit aria-label="Sign in">
            <label class="visually-hidden" for=SIGN_IN_FIELD>"User name"</label>
            <input id=SIGN_IN_FIELD type="text" name="user" placeholder="User name" data-testid="signin-user"
                node_ref=user autocomplete="username" autocapitalize="off" spellcheck="false" required />
            <label class="visually-hidden" for="signin-password">"Password"</label>
            <input id="signin-password" type="password" name="password" placeholder="Password" data-testid="signin-password"
                node_ref=password autocomplete="current-password" required />
            <button type="submit" data-testid="signin-submit" disabled=move || busy.get()>
                {move || if busy.get() { "Signing in…" } else { "Sign in" }}
            </button>
            <p class="signin-error" data-testid="signin-error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get()}
            </p>
        </form>
    }
}

#[component]
fn SignedIn(name: String) -> impl IntoView {
    let session = use_session();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let sign_out = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            if let Err(failed) = session.sign_out().await {
                busy.try_set(false);
                error.try_set(Some(format!("Could not sign out: {failed}")));
            }
        });
    };
    view! {
        <div class="session session-in" data-testid="session">
            <span class="session-who">"Signed in as "<strong data-testid="session-name">{name}</strong></span>
            <a href="/account" class="session-link" data-testid="account-link">"Your orders"</a>
            <button type="button" class="session-button" data-testid="signout" disabled=move || busy.get() on:click=sign_out>
                "Sign out"
            </button>
            <p class="signin-error" data-testid="signout-error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get()}
            </p>
        </div>
    }
}
