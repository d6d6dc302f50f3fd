//! Health and metrics endpoints for operators and orchestrators.

use axum::http::header;
use axum::response::IntoResponse;

use super::state::Current;

/// `GET /healthz`: the process is up and serving, and whether its shared cache is reachable
/// (`up`, `down`, `skipped` while it times out and is probed, or `off`). A Redis that is down
/// degrades the BFF; it does not fail it. With the running configuration's generation.
pub(crate) async fn healthz(Current(state): Current) -> axum::Json<serde_json::Value> {
    let shared_cache = state
        .cache
        .shared()
        .map_or("off", |shared| shared.state().as_str());
    axum::Json(serde_json::json!({
        "status": "ok",
        "shared_cache": shared_cache,
        "config_generation": state.generation,
    }))
}

/// `GET /metrics`: Prometheus text exposition.
pub(crate) async fn metrics(Current(state): Current) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
