//! The application shell: header (with the session's menu), routes, footer.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::pages::{
    account::AccountPage, category::CategoryPage, home::Home, not_found::NotFound, ops::OpsPage,
    product::ProductPage,
};
use crate::session::Session;
use crate::session_menu::SessionMenu;
use crate::version::NewVersionNotice;

#[component]
pub(crate) fn App() -> impl IntoView {
    Session::provide();
    crate::prefetch::listen();
    view! {
        <Router>
            <header class="site-header">
                <a href="/" class="brand">
                    <span class="brand-mark" aria-hidden="true">"▦"</span>
                    " Tessera Store"
                </a>
                <SessionMenu />
            </header>
            <main class="site-main">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Home />
                    <Route path=path!("/category/:slug") view=CategoryPage />
                    <Route path=path!("/product/:id") view=ProductPage />
                    <Route path=path!("/account") view=AccountPage />
                    <Route path=path!("/ops") view=OpsPage />
                </Routes>
            </main>
            <footer class="site-footer">
                "Composed tile by tile from independent services."
            </footer>
            <NewVersionNotice />
        </Router>
    }
}
