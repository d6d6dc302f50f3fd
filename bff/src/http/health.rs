//! Health and metrics endpoints for operators and orchestrators.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::state::{AppState, Current};

/// `GET /healthz`: the process is up and serving, and whether its shared cache is reachable
/// (`up`, `down`, `skipped` while it times out and is probed, or `off`). A Redis that is down
/// degrades the BFF; it does not fail it. With the running configuration's generation.
pub(crate) async fn healthz(Current(state): Current) -> axum::Json<serde_json::Value> {
    let shared_cache = state
        .cache
        .shared()
        .map_or("off", |shared| shared.state().as_str());
    // The id of the key this replica signs with (a rotation can be followed replica by
    // replica), never the key.
    let signing_key = state.identity.as_ref().map(|i| i.signer.kid().to_owned());
    axum::Json(serde_json::json!({
        "status": "ok",
        "shared_cache": shared_cache,
        "config_generation": state.generation,
        "signing_key": signing_key,
    }))
}

/// `GET /readyz`: 200 once the replica is ready for traffic — its `[warmup]` views composed
/// (or their deadline passed) — and 503 while it warms, so a balancer holds traffic back.
/// `/healthz` says whether it lives; this, whether to send it requests.
pub(crate) async fn readyz(State(live): State<AppState>) -> axum::response::Response {
    let warmth = live.warmth();
    let done = warmth.done.load(std::sync::atomic::Ordering::Relaxed);
    let (status, word) = if warmth.is_ready() {
        (axum::http::StatusCode::OK, "ready")
    } else {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "warming")
    };
    let body = serde_json::json!({ "status": word, "warmed": done, "of": warmth.total });
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// `GET /metrics`: Prometheus text exposition.
pub(crate) async fn metrics(Current(state): Current) -> impl IntoResponse {
    state.cache.report_size().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
