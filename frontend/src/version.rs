//! Version skew: the page knows the build it was loaded with (the `tessera-build` meta the
//! fingerprint step writes into it), and every answer of the shop names the build it serves
//! now. When that is a newer one, a notice offers to reload; nothing stops working meanwhile,
//! since the shop keeps serving the earlier builds' files.

use leptos::prelude::*;
use tessera_contract::{BUILD_HEADER as BUILD, build_number as number};

thread_local! {
    /// The build this page was loaded with.
    static OWN: Option<String> = document()
        .query_selector(&format!("meta[name={BUILD}]"))
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"));
    /// A newer build the shop serves, once an answer named one.
    static NEWER: RwSignal<Option<String>> = RwSignal::new(None);
}

/// Whether `theirs` is a later build than `own`.
fn is_newer(theirs: &str, own: &str) -> bool {
    matches!((number(theirs), number(own)), (Some(t), Some(o)) if t > o)
}

/// Notes the build an answer of the shop names.
pub(crate) fn saw(response: &gloo_net::http::Response) {
    let Some(theirs) = response.headers().get(BUILD) else {
        return;
    };
    let newer = OWN.with(|own| own.as_deref().is_some_and(|own| is_newer(&theirs, own)));
    if newer {
        NEWER.with(|n| n.try_set(Some(theirs)));
    }
}

/// "A new version is available — Reload": shown, without blocking anything, once the shop
/// serves a newer build than this page's.
#[component]
pub(crate) fn NewVersionNotice() -> impl IntoView {
    let newer = NEWER.with(|n| *n);
    view! {
        <Show when=move || newer.with(Option::is_some)>
            <div class="new-version" role="status" data-testid="new-version">
                <span>"A new version of the shop is available."</span>
                <button type="button" on:click=|_| { let _ = window().location().reload(); }>
                    "Reload"
                </button>
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_later_build_is_newer() {
        assert!(is_newer("12-ab12cd34", "11-ffffffff"));
        assert!(
            !is_newer("11-ab12cd34", "11-ffffffff"),
            "a sibling replica's rebuild"
        );
        assert!(
            !is_newer("10-ab12cd34", "11-ffffffff"),
            "an older replica mid-rollout"
        );
        assert!(!is_newer("garbage", "11-ffffffff"));
    }
}
