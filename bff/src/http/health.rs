//! Health and metrics endpoints for operators and orchestrators.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::state::AppState;

/// `GET /healthz`: the process is up and serving, and whether its shared cache is reachable
/// (`up`, `down`, `skipped` while it times out and is probed, or `off`). A Redis that is down
/// degrades the BFF; it does not fail it.
pub(crate) async fn healthz(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let shared_cache = state
        .cache
        .shared()
        .map_or("off", |shared| shared.state().as_str());
    axum::Json(serde_json::json!({ "status": "ok", "shared_cache": shared_cache }))
}

/// `GET /metrics`: Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
