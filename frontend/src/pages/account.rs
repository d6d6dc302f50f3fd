//! The account page (`/account`): the signed-in shopper's profile and orders (the `account`
//! view, whose parts are all theirs), a page of orders at a time with `?page=`, each with its
//! invoice to download. For nobody signed in, an invitation to sign in.
//!
//! An invoice is not fetched through the BFF: the page asks it for a vault key (a URL on the
//! accounts service, signed for this shopper and document, good for a minute or two), fetches
//! the document from there, and hands it to the browser as a download.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::Deserialize;
use tessera_contract::{PartOutcome, PartStatus};

use crate::api::{Order, Orders, fetch_granted, invoice_key};
use crate::download::save_text;
use crate::format::{long_date, money};
use crate::loader::{ViewKey, set_title, use_view};
use crate::pages::listing::use_page;
use crate::pages::product::PageError;
use crate::session::{Session, Shopper, use_session};
use crate::session_menu::focus_sign_in;
use crate::tiles::{decode, frame, loading_tile};
use crate::waterfall::Waterfall;

/// Every part of the view, and every one the shopper's own.
const PARTS: &[&str] = &["profile", "orders"];

/// The `profile` part: who the shopper is, and how many orders they have.
#[derive(Debug, Clone, Deserialize)]
struct Profile {
    user: String,
    name: String,
    orders: i64,
}

/// Where one invoice's download stands.
#[derive(Debug, Clone, PartialEq)]
enum Invoice {
    Fetching,
    Saved { file: String, bytes: f64 },
    Failed(String),
}

impl Invoice {
    fn text(&self) -> String {
        match self {
            Self::Fetching => "Fetching…".to_owned(),
            Self::Saved { file, bytes } => format!("Downloaded {file} ({bytes} bytes)"),
            Self::Failed(reason) => reason.clone(),
        }
    }
}

/// The downloads of this page, by order id.
type Invoices = RwSignal<BTreeMap<i64, Invoice>>;

/// How many pages `total` items make, `per_page` a page (at least one).
fn page_count(total: i64, per_page: u32) -> u32 {
    let per_page = i64::from(per_page.max(1));
    u32::try_from((total.max(0) + per_page - 1) / per_page)
        .unwrap_or(u32::MAX)
        .max(1)
}

/// The address of page `n` of the orders.
fn page_href(n: u32) -> String {
    if n <= 1 {
        "/account".to_owned()
    } else {
        format!("/account?page={n}")
    }
}

#[component]
pub(crate) fn AccountPage() -> impl IntoView {
    let session = use_session();
    let page = use_page();
    let loaded = use_view(
        move || ViewKey {
            view: "account",
            id: "me".to_owned(),
            page: Some(page.get()),
        },
        PARTS,
        &["profile"],
        PARTS,
    );
    let invoices: Invoices = RwSignal::new(BTreeMap::new());
    // Signed in or out: nothing of the shopper before stays, not even what became of their
    // downloads.
    Effect::new(move |_| {
        session.changes.track();
        invoices.set(BTreeMap::new());
    });
    Effect::new(move |_| set_title(Some("Your account")));
    // The BFF's word that nobody is signed in: the view refused, or (before its end) a part.
    let refused = move || {
        loaded
            .failure
            .with(|f| f.as_ref().is_some_and(|e| e.code == "unauthorized"))
            || loaded
                .parts
                .with(|parts| parts.values().any(|p| p.status == PartStatus::Unauthorized))
    };
    // The BFF says nobody is signed in while the header still shows a shopper (the session
    // ended elsewhere, or ran out): the header asks again who is.
    Effect::new(move |_| {
        if refused() && session.name().is_some() {
            session.recheck();
        }
    });
    let signed_out = move || {
        refused()
            || session
                .shopper
                .with(|s| matches!(s, Shopper::SignedOut | Shopper::Off))
    };
    let profile = move || match loaded.part("profile") {
        Some(part) => profile_tile(part),
        None => loading_tile("profile", "Your profile"),
    };
    let orders = move || match loaded.part("orders") {
        Some(part) => orders_tile(part, loaded.retry("orders"), invoices, session),
        None => loading_tile("orders", "Your orders"),
    };
    view! {
        <div class="account-page" data-refreshing=move || loaded.refreshing.get().to_string()>
            <h1 class="page-title">"Your account"</h1>
            <Show when=move || !signed_out() fallback=move || view! { <SignedOut off=session.is_off() /> }>
                {move || loaded.failure.get().map(|error| view! { <PageError error what="account" /> })}
                <Show when=move || loaded.failure.with(Option::is_none)>
                    <div class="account-layout">
                        {profile}
                        {orders}
                    </div>
                </Show>
            </Show>
            <Waterfall timeline=loaded.timeline />
        </div>
    }
}

/// What the page says to nobody signed in.
#[component]
fn SignedOut(off: bool) -> impl IntoView {
    view! {
        <section class="notice account-signed-out" data-testid="account-signed-out">
            {if off {
                view! { <h2>"This shop has no sign-in"</h2> }.into_any()
            } else {
                view! {
                    <h2>"Sign in to see your orders"</h2>
                    <p class="muted">"Your orders and their invoices are here once you have signed in with the form at the top of the page."</p>
                    <button type="button" class="retry" on:click=|_| focus_sign_in()>"Sign in"</button>
                }
                .into_any()
            }}
        </section>
    }
}

fn profile_tile(part: PartOutcome) -> AnyView {
    let part = Some(part);
    let body = decode::<Profile>(&part).map(|profile| {
        let orders = match profile.orders {
            1 => "1 order".to_owned(),
            n => format!("{n} orders"),
        };
        view! {
            <p class="profile-name" data-testid="profile-name">{profile.name}</p>
            <p class="muted">{format!("Signed in as {} · {orders}", profile.user)}</p>
        }
        .into_any()
    });
    frame("profile", "Your profile", &part, body, None)
}

fn orders_tile(
    part: PartOutcome,
    retry: Callback<()>,
    invoices: Invoices,
    session: Session,
) -> AnyView {
    let part = Some(part);
    let body = decode::<Orders>(&part).map(|mut orders| {
        if orders.items.is_empty() {
            return view! { <p class="muted">"You have no orders yet."</p> }.into_any();
        }
        // Newest first, whatever order the page came in.
        orders.items.sort_by(|a, b| {
            (b.placed_at.as_str(), b.id).cmp(&(a.placed_at.as_str(), a.id))
        });
        let last = page_count(orders.total, orders.per_page);
        let current = orders.page;
        let pager = (last > 1).then(|| {
            view! {
                <nav class="pager" aria-label="Pages of orders" data-testid="orders-pager">
                    {(current > 1).then(|| view! { <a href=page_href(current - 1) rel="prev">"← Newer"</a> })}
                    <span data-testid="orders-page">{format!("Page {current} of {last}")}</span>
                    <span class="muted">{format!(" · {} orders", orders.total)}</span>
                    {(current < last).then(|| view! { <a href=page_href(current + 1) rel="next">"Older →"</a> })}
                </nav>
            }
        });
        let items = orders
            .items
            .into_iter()
            .map(|order| view! { <OrderItem order invoices session /> })
            .collect_view();
        view! { <ol class="orders">{items}</ol> {pager} }.into_any()
    });
    frame("orders", "Your orders", &part, body, Some(retry))
}

#[component]
fn OrderItem(order: Order, invoices: Invoices, session: Session) -> impl IntoView {
    let id = order.id;
    let currency = order.currency.clone();
    let lines = order
        .lines
        .into_iter()
        .map(|line| {
            view! {
                <li>
                    <a href=format!("/product/{}", line.product_id)>{line.name}</a>
                    <span class="muted">{format!(" {} × {}", line.quantity, money(line.price_cents, &currency))}</span>
                </li>
            }
        })
        .collect_view();
    let state = move || invoices.with(|m| m.get(&id).cloned());
    let fetching = move || state() == Some(Invoice::Fetching);
    view! {
        <li class="order" data-testid=format!("order-{id}") data-order-id=id data-placed-at=order.placed_at.clone()>
            <p class="order-head">
                <strong class="order-date">{long_date(&order.placed_at)}</strong>
                <span class="muted">{format!("Order {id}")}</span>
                <span class="order-total" data-testid="order-total">{money(order.total_cents, &order.currency)}</span>
            </p>
            <ul class="order-lines">{lines}</ul>
            <p class="order-invoice">
                <button type="button" class="retry" data-testid=format!("invoice-{id}")
                    disabled=fetching on:click=move |_| download_invoice(id, invoices, session)>
                    "Download invoice"
                </button>
                <span
                    class="invoice-status"
                    class:tile-reason=move || matches!(state(), Some(Invoice::Failed(_)))
                    data-testid=format!("invoice-status-{id}")
                    data-state=move || match state() {
                        None => "idle",
                        Some(Invoice::Fetching) => "fetching",
                        Some(Invoice::Saved { .. }) => "saved",
                        Some(Invoice::Failed(_)) => "failed",
                    }
                    role="status"
                    aria-live="polite"
                >
                    {move || state().map(|s| s.text())}
                </span>
            </p>
        </li>
    }
}

/// Gets a vault key for `order`'s invoice, fetches the invoice with it from the accounts
/// service and offers it as `invoice-<order>.txt`; `invoices` says how it went.
fn download_invoice(order: i64, invoices: Invoices, session: Session) {
    if invoices.with_untracked(|m| m.get(&order) == Some(&Invoice::Fetching)) {
        return;
    }
    let signed_in_as = session.changes.get_untracked();
    invoices.update(|m| {
        m.insert(order, Invoice::Fetching);
    });
    leptos::task::spawn_local(async move {
        let file = format!("invoice-{order}.txt");
        let fetched = fetch_invoice(order).await;
        // Signed in or out meanwhile: the document was the shopper before's.
        if session.changes.try_get_untracked() != Some(signed_in_as) {
            return;
        }
        let state = match fetched.and_then(|text| save_text(&file, &text)) {
            Ok(bytes) => Invoice::Saved { file, bytes },
            Err(reason) => Invoice::Failed(reason),
        };
        invoices.try_update(|m| m.insert(order, state));
    });
}

async fn fetch_invoice(order: i64) -> Result<String, String> {
    let key = invoice_key(order).await.map_err(|e| match e.status {
        Some(401) => "Sign in again to download your invoices.".to_owned(),
        _ => format!("No download link: {e}"),
    })?;
    fetch_granted(&key.url)
        .await
        .map_err(|e| format!("The invoice could not be fetched: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_per_page_orders_and_the_rest() {
        assert_eq!(page_count(0, 10), 1);
        assert_eq!(page_count(10, 10), 1);
        assert_eq!(page_count(11, 10), 2);
        assert_eq!(page_count(25, 10), 3);
        assert_eq!(page_count(5, 0), 5);
    }

    #[test]
    fn the_first_page_has_the_plain_address() {
        assert_eq!(page_href(1), "/account");
        assert_eq!(page_href(3), "/account?page=3");
    }

    #[test]
    fn an_invoice_says_what_was_downloaded() {
        let saved = Invoice::Saved {
            file: "invoice-42.txt".into(),
            bytes: 312.0,
        };
        assert_eq!(saved.text(), "Downloaded invoice-42.txt (312 bytes)");
    }
}
