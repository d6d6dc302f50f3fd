//! Talking to the BFF: the streaming view client, the part and action requests, signing in and
//! out, vault keys (and the one request made elsewhere: a document fetched with such a key from
//! its service), the ops page's stats request, and (from the contract crate) the types of the
//! demo services' data.

use gloo_net::http::{Request, Response};
use tessera_contract::ops::Stats;
use tessera_contract::{ErrorBody, PartOutcome, PartStatus, StreamLine};

pub(crate) use tessera_contract::account::{
    KeyGrant, Order, Orders, Purchase, Purchases, SessionInfo, SignIn,
};
/// The services' data as the page reads it. The types live in the contract crate, where the
/// services' own tests check them against the services' real answers.
pub(crate) use tessera_contract::data::{
    Category, Items, NewReview, Page, Product, ProductCard, Rating, Related, Review, ReviewSummary,
    Stock,
};

/// Why a view could not be loaded, in words fit for the page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    /// HTTP status, or `None` when the request never got an answer.
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: Some(404),
            code: "not_found".into(),
            message: message.into(),
        }
    }

    /// A shopper's own view, asked for by nobody signed in.
    pub(crate) fn unauthorized() -> Self {
        Self {
            status: Some(401),
            code: "unauthorized".into(),
            message: "sign in to see this".into(),
        }
    }

    /// A view's stream that ended before its summary line.
    fn cut_off() -> Self {
        Self {
            status: None,
            code: "cut_off".into(),
            message: "the answer was cut off before its end".into(),
        }
    }

    fn network(message: impl Into<String>) -> Self {
        Self {
            status: None,
            code: "network".into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} ({status})", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for ApiError {}

/// The relayed address of a service's picture (`/images/7.svg` → `/media/images/7.svg`), so
/// the page loads it from its own origin.
pub(crate) fn media_url(image: &str) -> String {
    let file = image.rsplit('/').next().unwrap_or_default();
    format!("/media/images/{file}")
}

/// `?page=N` when a page other than the first is asked for.
fn page_query(page: Option<u32>, first: char) -> String {
    page.filter(|&p| p > 1)
        .map(|p| format!("{first}page={p}"))
        .unwrap_or_default()
}

/// Loads one part alone (`GET /api/parts/{view}/{part}/{id}`), for a tile's retry or paging.
/// A 502/504 still carries the part's outcome, which is returned as `Ok`. `abort` cancels the
/// request (a newer reload of the same part, or the page being left).
pub(crate) async fn fetch_part(
    view: &str,
    part: &str,
    id: &str,
    page: Option<u32>,
    abort: Option<&web_sys::AbortSignal>,
) -> Result<PartOutcome, ApiError> {
    let url = format!("/api/parts/{view}/{part}/{id}{}", page_query(page, '?'));
    let response = answer(
        Request::get(&url)
            .header("accept", "application/json")
            .abort_signal(abort)
            .send(),
    )
    .await?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| ApiError::network(format!("the answer was cut off: {e}")))?;
    if let Ok(outcome) = serde_json::from_str::<PartOutcome>(&text) {
        return Ok(outcome);
    }
    Err(error_of(status, &text))
}

/// Fetches `parts` of a view at low priority (a prefetch: nobody waits for it), their
/// outcomes if the shop answered with the view. SECURITY: without cookies, and only parts that
/// are nobody's in particular, so nothing of the shopper is fetched or kept for a guess. Given
/// up after a few seconds; never shown as an error.
pub(crate) async fn prefetch_view(
    view: &str,
    id: &str,
    page: Option<u32>,
    parts: &[&str],
) -> Option<std::collections::BTreeMap<String, PartOutcome>> {
    use wasm_bindgen::{JsCast, JsValue};
    let url = format!(
        "/api/views/{view}/{id}?parts={}{}",
        parts.join(","),
        page_query(page, '&')
    );
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().ok()?;
    headers.set("accept", "application/json").ok()?;
    init.set_headers(&headers);
    init.set_credentials(web_sys::RequestCredentials::Omit);
    let set = |name: &str, value: &JsValue| js_sys::Reflect::set(&init, &name.into(), value);
    // Not in web-sys yet: the priority hint, which keeps this behind what the page needs, and
    // a deadline (`AbortSignal.timeout`), so a hung prefetch frees its place.
    let _ = set("priority", &JsValue::from_str("low"));
    let window = web_sys::window()?;
    let timeout = js_sys::Reflect::get(&window, &"AbortSignal".into()).and_then(|class| {
        let make: js_sys::Function = js_sys::Reflect::get(&class, &"timeout".into())?.dyn_into()?;
        make.call1(&class, &JsValue::from_f64(PREFETCH_TIMEOUT_MS))
    });
    if let Ok(signal) = timeout {
        let _ = set("signal", &signal);
    }
    let sent = window.fetch_with_str_and_init(&url, &init);
    let response = wasm_bindgen_futures::JsFuture::from(sent).await.ok()?;
    let response = Response::from(response.dyn_into::<web_sys::Response>().ok()?);
    crate::version::saw(&response);
    let envelope: tessera_contract::ViewEnvelope = response.json().await.ok()?;
    Some(envelope.parts)
}

/// How long a prefetch may take before it is given up.
const PREFETCH_TIMEOUT_MS: f64 = 5_000.0;

/// Awaits the answer to a request; not reaching the shop at all is a network [`ApiError`].
async fn answer(
    sent: impl Future<Output = Result<Response, gloo_net::Error>>,
) -> Result<Response, ApiError> {
    let response = sent
        .await
        .map_err(|e| ApiError::network(format!("the shop could not be reached: {e}")))?;
    crate::version::saw(&response);
    Ok(response)
}

/// The error a non-view answer carries, in our words if it has none.
fn error_of(status: u16, text: &str) -> ApiError {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => ApiError {
            status: Some(status),
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => ApiError {
            status: Some(status),
            code: "unexpected".into(),
            message: "the shop sent an unexpected answer".into(),
        },
    }
}

/// The view request the page's start script made while the wasm downloaded (the BFF puts it
/// in the page for the routes it knows), taken by the first view the app asks for, if it is
/// that one: so a navigation's view is requested once. Without it, or if it failed, `None`.
async fn adopt(url: &str) -> Option<Response> {
    use wasm_bindgen::{JsCast, JsValue};
    let window: js_sys::Object = web_sys::window()?.unchecked_into();
    let name = JsValue::from_str("__tesseraView");
    let started = js_sys::Reflect::get(&window, &name)
        .ok()
        .filter(|v| v.is_object())?;
    // Once only: a later view (or this one asked for again) makes its own request.
    let _ = js_sys::Reflect::delete_property(&window, &name);
    let field = |key: &str| js_sys::Reflect::get(&started, &JsValue::from_str(key)).ok();
    if field("url")?.as_string()? != url {
        return None;
    }
    let response: js_sys::Promise = field("response")?.dyn_into().ok()?;
    let response = wasm_bindgen_futures::JsFuture::from(response).await.ok()?;
    Some(Response::from(
        response.dyn_into::<web_sys::Response>().ok()?,
    ))
}

/// Reads `GET /api/views/{view}/{id}?stream` and hands each NDJSON line to `on_line` the moment
/// it arrives, so a page can render each part as soon as it is in. `abort` cancels the request
/// (and so, at the BFF, the upstream calls behind it).
///
/// The summary line is the stream's proof of being whole: a stream that ends without one (a
/// proxy or the connection cut it, however cleanly) is an error, so the parts it never
/// delivered can be shown as failed rather than loading forever.
pub(crate) async fn stream_view(
    view: &str,
    id: &str,
    page: Option<u32>,
    abort: Option<web_sys::AbortSignal>,
    mut on_line: impl FnMut(StreamLine),
) -> Result<(), ApiError> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let url = format!("/api/views/{view}/{id}?stream{}", page_query(page, '&'));
    let response = match adopt(&url).await {
        Some(started) => started,
        None => {
            let request = Request::get(&url)
                .header("accept", NDJSON)
                .abort_signal(abort.as_ref());
            answer(request.send()).await?
        }
    };
    let status = response.status();
    let is_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|t| t.starts_with(NDJSON));
    if !is_stream {
        // Refused before streaming (a malformed id, an unknown view): a JSON error.
        let text = response.text().await.unwrap_or_default();
        return Err(error_of(status, &text));
    }
    let cut_off = |_| ApiError::cut_off();
    let reader: web_sys::ReadableStreamDefaultReader = response
        .body()
        .ok_or_else(|| ApiError::network("the answer had no body"))?
        .get_reader()
        .dyn_into()
        .map_err(|_| ApiError::network("the answer could not be read"))?;
    let mut buffer: Vec<u8> = Vec::new();
    let mut summarized = false;
    loop {
        let chunk: web_sys::ReadableStreamReadResult = JsFuture::from(reader.read())
            .await
            .map_err(cut_off)?
            .unchecked_into();
        if chunk.get_done().unwrap_or(true) {
            break;
        }
        buffer.extend(js_sys::Uint8Array::new(&chunk.get_value()).to_vec());
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            if let Ok(parsed) = serde_json::from_slice::<StreamLine>(&line) {
                summarized |= matches!(parsed, StreamLine::Summary { .. });
                on_line(parsed);
            }
        }
    }
    if !summarized {
        return Err(ApiError::cut_off());
    }
    Ok(())
}

const NDJSON: &str = "application/x-ndjson";

/// Writes a review through the BFF's `review` action (which also drops the product's cached
/// review parts, so reloading them shows it).
pub(crate) async fn post_review(product_id: &str, review: &NewReview) -> Result<(), ApiError> {
    let request = Request::post(&format!("/api/actions/review/{product_id}"))
        .json(review)
        .map_err(|e| ApiError::network(format!("the review could not be sent: {e}")))?;
    let response = answer(request.send()).await?;
    if response.ok() {
        return Ok(());
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    Err(error_of(status, &text))
}

/// Why a sign-in did not open a session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SignInError {
    /// 401: the user name or the password is wrong (the BFF does not say which).
    Refused,
    /// 429: too many failed attempts; the BFF's `Retry-After`, in seconds, if it sent one.
    TooMany { retry_after_s: Option<u64> },
    /// Not reached, or refused for another reason (a bad form, another site).
    Failed(ApiError),
}

/// Signs in (`POST /api/session`). The answer sets the session's `HttpOnly` cookie, which the
/// page never sees: it only learns who is signed in.
pub(crate) async fn sign_in(form: &SignIn) -> Result<SessionInfo, SignInError> {
    let request = Request::post("/api/session")
        .json(form)
        .map_err(|e| SignInError::Failed(ApiError::network(format!("could not send: {e}"))))?;
    let response = answer(request.send()).await.map_err(SignInError::Failed)?;
    let status = response.status();
    let retry_after_s = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let text = response.text().await.unwrap_or_default();
    match status {
        200 => serde_json::from_str(&text).map_err(|_| SignInError::Failed(error_of(status, ""))),
        401 => Err(SignInError::Refused),
        429 => Err(SignInError::TooMany { retry_after_s }),
        _ => Err(SignInError::Failed(error_of(status, &text))),
    }
}

/// Who is signed in (`GET /api/session`): `None` for nobody (401). A 404 means this BFF has no
/// sign-in at all, and is returned as that error.
pub(crate) async fn whoami() -> Result<Option<SessionInfo>, ApiError> {
    let response = answer(
        Request::get("/api/session")
            .header("accept", "application/json")
            .cache(web_sys::RequestCache::NoStore)
            .send(),
    )
    .await?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match status {
        200 => serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| error_of(status, "")),
        401 => Ok(None),
        _ => Err(error_of(status, &text)),
    }
}

/// Signs out (`DELETE /api/session`): the BFF ends the session and clears its cookie.
pub(crate) async fn sign_out() -> Result<(), ApiError> {
    let response = answer(Request::delete("/api/session").send()).await?;
    if response.ok() {
        return Ok(());
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    Err(error_of(status, &text))
}

/// Asks for a vault key to order `order`'s invoice (`POST /api/keys/invoice/{order}`): a URL on
/// the accounts service itself, good for a minute or two.
pub(crate) async fn invoice_key(order: i64) -> Result<KeyGrant, ApiError> {
    let response = answer(Request::post(&format!("/api/keys/invoice/{order}")).send()).await?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !response.ok() {
        return Err(error_of(status, &text));
    }
    serde_json::from_str(&text).map_err(|_| error_of(status, ""))
}

/// Fetches the document a vault key opens, straight from its service (not through the BFF).
/// SECURITY: without credentials: the URL is all the authority needed, and the service's
/// origin is not sent the shop's cookies.
pub(crate) async fn fetch_granted(url: &str) -> Result<String, ApiError> {
    let response = Request::get(url)
        .mode(web_sys::RequestMode::Cors)
        .credentials(web_sys::RequestCredentials::Omit)
        .cache(web_sys::RequestCache::NoStore)
        .send()
        .await
        .map_err(|e| {
            ApiError::network(format!("the accounts service could not be reached: {e}"))
        })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| ApiError::network(format!("the document was cut off: {e}")))?;
    if !response.ok() {
        let mut error = error_of(status, &text);
        if status == 410 {
            error.message = "the download link expired".into();
        }
        return Err(error);
    }
    Ok(text)
}

/// Why `GET /admin/stats` gave no stats. The ops page treats each differently: a refused token
/// is forgotten and asked for again, an API that is off is said so, and anything else leaves
/// the last stats on screen, marked stale.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StatsError {
    /// 401: the token is wrong (or was changed at the BFF).
    Refused,
    /// 404: this BFF has no admin token set, so its admin API is off.
    Off,
    /// Not reached, timed out, another status, or an answer that is not `Stats`.
    Failed(ApiError),
}

/// Reads this replica's live state (`GET /admin/stats`) with the admin `token` as a bearer.
/// `abort` cancels the request (the page is left, or the poll took too long).
pub(crate) async fn fetch_stats(
    token: &str,
    abort: Option<&web_sys::AbortSignal>,
) -> Result<Stats, StatsError> {
    let response = answer(
        Request::get("/admin/stats")
            .header("accept", "application/json")
            .header("authorization", &format!("Bearer {token}"))
            // Each poll must reach the BFF: a cached answer would show old state as live.
            .cache(web_sys::RequestCache::NoStore)
            .abort_signal(abort)
            .send(),
    )
    .await
    .map_err(StatsError::Failed)?;
    let status = response.status();
    match status {
        401 => return Err(StatsError::Refused),
        404 => return Err(StatsError::Off),
        _ => {}
    }
    let text = response.text().await.map_err(|e| {
        StatsError::Failed(ApiError::network(format!("the answer was cut off: {e}")))
    })?;
    if !response.ok() {
        return Err(StatsError::Failed(error_of(status, &text)));
    }
    serde_json::from_str(&text).map_err(|e| {
        StatsError::Failed(ApiError {
            status: Some(status),
            code: "unexpected".into(),
            message: format!("the stats could not be read: {e}"),
        })
    })
}

/// A part outcome standing for a request that got no outcome of its own: the network failed,
/// the BFF refused the request (its error's code, e.g. `not_found`, is kept), or the view's
/// stream was cut off before the part.
pub(crate) fn failed_part(error: &ApiError) -> PartOutcome {
    PartOutcome {
        status: PartStatus::Error,
        critical: false,
        elapsed_ms: 0,
        age_s: None,
        data: None,
        error: Some(tessera_contract::PartError {
            code: error.code.clone(),
            message: error.to_string(),
        }),
        failed: Vec::new(),
    }
}
