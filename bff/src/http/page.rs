//! A navigation to a route whose page has a first paint (`routes.<path>.first_paint`): the
//! page with that part's data drawn into its HTML (`assets::first_paint`) when the part
//! answers within the route's wait, so the product is on screen as the HTML arrives. Any
//! other answer — no such route, a file of the build, a part that fails or is late, a build
//! whose template shows another part or none — is the plain page, as for every other
//! address; the start script then fetches the view as before. The part is a cached one
//! (`check` says so), so one the page gave up on goes on being fetched into the cache.

use std::time::Duration;

use axum::http::{HeaderMap, Method, Response, Uri, header};
use bytes::Bytes;
use tessera_contract::PartStatus;

use super::request_id::request_id;
use super::state::App;
use crate::compose::ViewRequest;
use crate::config::route::page_of;

/// The page for this navigation with its first paint drawn, if its route has one and the
/// part answered in time.
pub(crate) async fn drawn(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response<Bytes>> {
    let assets = app.assets.as_ref()?;
    let navigation =
        (method == Method::GET || method == Method::HEAD) && crate::assets::asks_for_html(headers);
    if !navigation || assets.is_file(uri.path()) {
        return None;
    }
    // The first route that matches, as the start script takes it (the table's order).
    let (route, id) =
        app.config.routes.iter().find_map(|(path, route)| {
            Some((route, route.view_id(path, uri.path(), uri.query())?))
        })?;
    let part = route.first_paint.as_ref()?.get_ref();
    if !assets.draws_first_paint(part) {
        return None;
    }
    let request = ViewRequest {
        parts: None,
        budget: Some(Duration::from_millis(*route.first_paint_wait_ms.get_ref())),
        page: route.paged.then(|| page_of(uri.query())),
        request_id: request_id(),
        // A first paint is a public part (`check` says so): nobody's session is read.
        caller: None,
        forwarded: app.composer.forwarded(headers),
    };
    let answer = app
        .composer
        .part(route.view.get_ref(), part, &id, request)
        .await
        .ok()?;
    let data = match answer.outcome.status {
        PartStatus::Ok | PartStatus::Stale => answer.outcome.data?,
        _ => return None,
    };
    let data = serde_json::Value::Object([(part.clone(), data)].into_iter().collect());
    // A page drawn per request is not served in ranges.
    let mut headers = headers.clone();
    headers.remove(header::RANGE);
    let mut page = assets.page_drawn(&data, method, &headers)?;
    // Drawn from a part, the page varies as the part's view does.
    page.headers_mut().insert(header::VARY, app.vary[0].clone());
    Some(page)
}
