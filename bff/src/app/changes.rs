//! What differs between the running configuration and a reloaded one.

use crate::cache::Invalidation;
use crate::config::Config;

use super::Fresh;

/// Settings only a restart applies (the listener, the router's limits, where the front-end
/// build is — a new build in the same folder is served without one —, the Redis connection, the log format, traces, the start-up warm-up): `new` takes their running values, and their names
/// are returned so the reload can say a restart is needed for them — never half-done.
pub(super) fn keep_restart_only(running: &Config, new: &mut Config) -> Vec<String> {
    let mut needed = Vec::new();
    let mut keep = |name: &str, differs: bool| {
        if differs {
            needed.push(name.to_owned());
        }
    };
    let (r, n) = (&running.server, &new.server);
    keep("server.listen", r.listen != n.listen);
    keep("server.dist_dir", r.dist_dir != n.dist_dir);
    keep("server.asset_origin", r.asset_origin != n.asset_origin);
    keep(
        "server.body_limit_bytes",
        r.body_limit_bytes != n.body_limit_bytes,
    );
    keep(
        "server.header_read_timeout_ms",
        r.header_read_timeout_ms != n.header_read_timeout_ms,
    );
    keep(
        "server.max_header_bytes",
        r.max_header_bytes != n.max_header_bytes,
    );
    keep("server.watch_config", r.watch_config != n.watch_config);
    keep("server.watch_dist", r.watch_dist != n.watch_dist);
    keep(
        "cache.redis_url",
        running.cache.redis_url != new.cache.redis_url,
    );
    keep(
        "cache.redis_timeout_ms",
        running.cache.redis_timeout_ms != new.cache.redis_timeout_ms,
    );
    keep("log.format", running.log.format != new.log.format);
    keep("telemetry", running.telemetry != new.telemetry);
    keep("warmup", running.warmup != new.warmup);
    new.server.clone_from(&running.server);
    new.cache.redis_url.clone_from(&running.cache.redis_url);
    new.cache.redis_timeout_ms = running.cache.redis_timeout_ms;
    new.log.clone_from(&running.log);
    new.telemetry.clone_from(&running.telemetry);
    new.warmup.clone_from(&running.warmup);
    needed
}

/// Parts that are gone or whose cached answers could differ now (another upstream, path,
/// per-item list or cache policy: the cache holds upstream answers unshaped, so shaping,
/// timeouts and fallbacks do not count): their names, and a drop of the entries their path
/// could have made (its literal start, in whole segments — more than the part's own entries at
/// times, which costs misses, never stale data).
pub(super) fn changed_parts(running: &Config, new: &Config, fresh: &mut Fresh) {
    for (view_name, view) in &running.views {
        for (part_name, part) in view.parts.get_ref() {
            let now = new
                .views
                .get(view_name)
                .and_then(|v| v.parts.get_ref().get(part_name));
            let same_answers = now.is_some_and(|now| {
                now.upstream == part.upstream
                    && now.path == part.path
                    && now.each == part.each
                    && now.cache == part.cache
            });
            if same_answers {
                continue;
            }
            fresh.names.push(format!("{view_name}.{part_name}"));
            let upstream = part.upstream.get_ref();
            if fresh.names.iter().any(|n| n == upstream) {
                continue; // the whole upstream is dropped already
            }
            let path = part.path.get_ref();
            let drop = if path.contains(['{', '?']) {
                Invalidation::Prefix(format!("{upstream}:{}", literal_start(path)))
            } else {
                Invalidation::Key(format!("{upstream}:{path}"))
            };
            if !fresh.drops.contains(&drop) {
                fresh.drops.push(drop);
            }
        }
    }
}

/// The whole segments of a path template before its first parameter or query:
/// `/products/{id}/related` → `/products/`.
fn literal_start(template: &str) -> &str {
    let end = template.find(['{', '?']).unwrap_or(template.len());
    let literal = &template[..end];
    match literal.rfind('/') {
        Some(slash) => &literal[..=slash],
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_drops_from_its_last_literal_segment() {
        assert_eq!(literal_start("/products/{id}/related"), "/products/");
        assert_eq!(literal_start("/products/{id}"), "/products/");
        assert_eq!(literal_start("/reviews?product={id}"), "/");
        assert_eq!(literal_start("/a/b/c"), "/a/b/");
    }
}
