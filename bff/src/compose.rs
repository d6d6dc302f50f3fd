//! Composite views: validate the id, fan out to every part's upstream at once, give each part its
//! deadline inside the view's budget, and merge the outcomes into one envelope whose HTTP status
//! follows the critical parts only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use futures::future::join_all;
use tessera_contract::{PartError, PartOutcome, PartStatus, ViewEnvelope};
use tokio::time::Instant;

use crate::config::{IdKind, PartConfig, ViewConfig};
use crate::error::AppError;
use crate::upstream::{UpstreamError, Upstreams};

/// The views of the configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Composer {
    views: Arc<BTreeMap<String, ViewConfig>>,
    upstreams: Arc<Upstreams>,
}

/// A finished view and the HTTP status it should be sent with.
#[derive(Debug)]
pub struct Rendered {
    pub status: StatusCode,
    pub envelope: ViewEnvelope,
}

impl Composer {
    pub fn new(views: BTreeMap<String, ViewConfig>, upstreams: Upstreams) -> Self {
        Self {
            views: Arc::new(views),
            upstreams: Arc::new(upstreams),
        }
    }

    /// Runs every part of `view` for `id`.
    pub async fn render(
        &self,
        view_name: &str,
        id: &str,
        request_id: Option<&str>,
    ) -> Result<Rendered, AppError> {
        let view = self
            .views
            .get(view_name)
            .ok_or_else(|| AppError::NotFound(format!("no view named {view_name:?}")))?;
        validate_id(view.id, id)?;
        let started = Instant::now();
        let budget_deadline = started + Duration::from_millis(view.budget_ms);
        let runs = view.parts.iter().map(|(name, part)| async move {
            let deadline = budget_deadline.min(started + part.timeout());
            let outcome = self.run_part(part, id, deadline, request_id).await;
            (name.clone(), outcome)
        });
        let parts: BTreeMap<String, PartOutcome> = join_all(runs).await.into_iter().collect();

        let mut status = StatusCode::OK;
        for outcome in parts.values().filter(|o| o.critical) {
            let part_status = match (&outcome.status, outcome.error.as_ref()) {
                (s, _) if s.has_data() => continue,
                (_, Some(e)) if e.code == "not_found" => StatusCode::NOT_FOUND,
                (PartStatus::Timeout, _) => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            // The most specific failure wins: 404 over 504 over 502.
            if status == StatusCode::OK || part_status == StatusCode::NOT_FOUND {
                status = part_status;
            }
        }
        if status == StatusCode::NOT_FOUND {
            return Err(AppError::NotFound(format!("no {view_name} with id {id}")));
        }
        let complete = parts.values().all(|o| o.status == PartStatus::Ok);
        Ok(Rendered {
            status,
            envelope: ViewEnvelope {
                view: view_name.to_owned(),
                id: id.to_owned(),
                complete,
                elapsed_ms: started.elapsed().as_millis() as u64,
                parts,
            },
        })
    }

    async fn run_part(
        &self,
        part: &PartConfig,
        id: &str,
        deadline: Instant,
        request_id: Option<&str>,
    ) -> PartOutcome {
        let started = Instant::now();
        let path = part.path.get_ref().replace("{id}", id);
        let result = self
            .upstreams
            .get_json(part.upstream.get_ref(), &path, deadline, request_id)
            .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(data) => PartOutcome {
                status: PartStatus::Ok,
                critical: part.critical,
                elapsed_ms,
                age_s: None,
                data: Some(data),
                error: None,
            },
            Err(e) => {
                tracing::warn!(upstream = %part.upstream.get_ref(), %path, error = %e, "part failed");
                let status = if matches!(e, UpstreamError::Timeout) {
                    PartStatus::Timeout
                } else {
                    PartStatus::Error
                };
                PartOutcome {
                    status,
                    critical: part.critical,
                    elapsed_ms,
                    age_s: None,
                    data: None,
                    error: Some(PartError {
                        code: e.code().to_owned(),
                        message: format!("{} {e}", part.upstream.get_ref()),
                    }),
                }
            }
        }
    }
}

/// Rejects ids that are not of the view's kind, before anything is called with them.
pub fn validate_id(kind: IdKind, id: &str) -> Result<(), AppError> {
    let ok = match kind {
        IdKind::Integer => id.parse::<u64>().is_ok_and(|n| n > 0) && id.len() <= 19,
        IdKind::Slug => {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
    };
    if ok {
        Ok(())
    } else {
        let expected = match kind {
            IdKind::Integer => "a positive integer",
            IdKind::Slug => "letters, digits, '-' or '_' (at most 64)",
        };
        Err(AppError::BadRequest(format!(
            "malformed id {id:?}: expected {expected}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_by_kind() {
        assert!(validate_id(IdKind::Integer, "42").is_ok());
        for bad in ["0", "-3", "4x", "", "1e3", "../1", "99999999999999999999"] {
            assert!(validate_id(IdKind::Integer, bad).is_err(), "{bad}");
        }
        assert!(validate_id(IdKind::Slug, "coffee-tea_2").is_ok());
        for bad in ["", "a/b", "a%2F", "a b", &"x".repeat(65)] {
            assert!(validate_id(IdKind::Slug, bad).is_err(), "{bad}");
        }
    }
}
