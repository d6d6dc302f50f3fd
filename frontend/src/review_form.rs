//! The form to write a review of one product. It posts through the BFF's `review` action, which
//! drops the product's cached review parts everywhere, so reloading the summary shows the new
//! review. Signed in, the review is the shopper's: the BFF writes their name as its author, and
//! the form shows that name instead of asking for one.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::{NewReview, post_review};
use crate::session::use_session;

/// Where a submission stands.
#[derive(Debug, Clone, PartialEq)]
enum Sending {
    Idle,
    Busy,
    Done,
    Failed(String),
}

/// The form for `product_id`; a page showing another product makes a new one. `posted` is
/// told which product a review was written for, once it is in.
#[component]
pub(crate) fn ReviewForm(product_id: String, posted: Callback<String>) -> impl IntoView {
    let rating = RwSignal::new(5u8);
    let title = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let author = RwSignal::new(String::new());
    let sending = RwSignal::new(Sending::Idle);
    let session = use_session();

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if sending.get_untracked() == Sending::Busy {
            return;
        }
        let review = NewReview {
            rating: rating.get_untracked(),
            title: title.get_untracked().trim().to_owned(),
            body: body.get_untracked().trim().to_owned(),
            // The BFF puts the signed-in shopper's name here whatever is sent.
            author: untrack(|| session.name())
                .unwrap_or_else(|| author.get_untracked().trim().to_owned()),
        };
        if review.title.is_empty() || review.body.is_empty() || review.author.is_empty() {
            sending.set(Sending::Failed("Please fill in every field.".into()));
            return;
        }
        sending.set(Sending::Busy);
        let id = product_id.clone();
        leptos::task::spawn_local(async move {
            match post_review(&id, &review).await {
                Ok(()) => {
                    title.try_set(String::new());
                    body.try_set(String::new());
                    // The form may be gone (another product, another page) while the review
                    // was on its way; its signals went with it.
                    if sending.try_set(Sending::Done).is_none() {
                        posted.try_run(id);
                    }
                }
                Err(error) => {
                    sending.try_set(Sending::Failed(error.to_string()));
                }
            }
        });
    };

    view! {
        <section class="tile tile-review-form" aria-labelledby="review-form-title">
            <h2 id="review-form-title">"Write a review"</h2>
            <form class="review-form" data-testid="review-form" on:submit=submit>
                <fieldset class="rating-input">
                    <legend>"Your rating"</legend>
                    {(1..=5u8)
                        .map(|stars| {
                            view! {
                                <label>
                                    <input
                                        type="radio"
                                        name="rating"
                                        value=stars
                                        prop:checked=move || rating.get() == stars
                                        on:change=move |_| rating.set(stars)
                                    />
                                    {format!("{stars} ★")}
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <label>
                    "Title"
                    <input type="text" name="title" maxlength="120" required
                        prop:value=move || title.get()
                        on:input=move |ev| title.set(event_target_value(&ev)) />
                </label>
                <label>
                    "Your review"
                    <textarea name="body" rows="4" maxlength="4000" required
                        prop:value=move || body.get()
                        on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                </label>
                {move || match session.name() {
                    Some(name) => view! {
                        <p class="review-author" data-testid="review-author">
                            "Posting as "<strong>{name.clone()}</strong>
                            <input type="hidden" name="author" value=name />
                        </p>
                    }
                    .into_any(),
                    None => view! {
                        <label>
                            "Your name"
                            <input type="text" name="author" maxlength="60" required autocomplete="name"
                                prop:value=move || author.get()
                                on:input=move |ev| author.set(event_target_value(&ev)) />
                        </label>
                    }
                    .into_any(),
                }}
                <button type="submit" data-testid="review-submit" disabled={move || sending.get() == Sending::Busy}>
                    {move || if sending.get() == Sending::Busy { "Sending…" } else { "Post review" }}
                </button>
                <p class="form-status" role="status" aria-live="polite">
                    {move || match sending.get() {
                        Sending::Done => Some(view! { <span data-testid="review-posted">"Thank you — your review is in."</span> }.into_any()),
                        Sending::Failed(message) => Some(view! { <span class="tile-reason" data-testid="review-error">{message}</span> }.into_any()),
                        _ => None,
                    }}
                </p>
            </form>
        </section>
    }
}
