//! `check`: what the types alone cannot say — references between sections, templates and
//! their parameters, dependency cycles, zero timeouts — each error located in the file.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::shape::Shape;
use super::source::{ConfigError, Source};
use super::template::{FieldRef, Param, Template};
use super::types::{Config, IdentityConfig, Scope, ViewConfig, drop_target_problem};

impl Config {
    /// Cross-references the parts of the configuration: every part names a known upstream, every
    /// template parameter is provided.
    pub(super) fn validate(&self, source: &Source) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (name, upstream) in &self.upstreams {
            let key = format!("upstreams.{name}");
            // The name begins every cache key (`name:/path`) and drop target.
            let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
            if name.is_empty() || !name.bytes().all(plain) {
                errors.push(source.error_at(
                    self.upstream_span(source, name),
                    key.clone(),
                    "an upstream's name is letters, digits, '-' and '_'",
                ));
            }
            for url in upstream.url.iter().chain(&upstream.urls) {
                let text = url.get_ref();
                if !(text.starts_with("http://") || text.starts_with("https://")) {
                    errors.push(source.error_at(
                        url.span(),
                        format!("{key}.url"),
                        format!("{text:?} is not an http(s) URL"),
                    ));
                }
            }
            if upstream.hosts().next().is_none() {
                errors.push(source.error_at(
                    self.upstream_span(source, name),
                    key.clone(),
                    "needs `url` or `urls`",
                ));
            }
            if upstream.max_concurrency == 0 || upstream.retry.max_attempts == 0 {
                errors.push(source.error_at(
                    self.upstream_span(source, name),
                    key,
                    "max_concurrency and retry.max_attempts must be at least 1",
                ));
            }
        }
        for (name, action) in &self.actions {
            let key = format!("actions.{name}");
            errors.extend(self.unknown_upstream(source, &action.upstream, &key));
            for template in std::iter::once(&action.path).chain(&action.invalidate) {
                let text = template.get_ref().replace("{id}", "1");
                if text.contains(['{', '}']) {
                    errors.push(source.error_at(
                        template.span(),
                        format!("{key}.path"),
                        "only {id} is available in an action's templates",
                    ));
                }
            }
            for prefix in &action.invalidate {
                let text = prefix.get_ref().replace("{id}", "1");
                let known = |name: &str| self.upstreams.contains_key(name);
                if let Some(problem) = drop_target_problem(&text, true, known) {
                    errors.push(source.error_at(
                        prefix.span(),
                        format!("{key}.invalidate"),
                        format!("{:?} {problem}", prefix.get_ref()),
                    ));
                }
            }
        }
        for (name, media) in &self.media {
            let key = format!("media.{name}");
            errors.extend(self.unknown_upstream(source, &media.upstream, &key));
            let path = media.path.get_ref();
            let rest = path.replacen("{file}", "", 1);
            if !path.starts_with('/') || !path.contains("{file}") || rest.contains(['{', '}']) {
                errors.push(source.error_at(
                    media.path.span(),
                    format!("{key}.path"),
                    "must start with '/' and hold {file} once, and no other parameter",
                ));
            }
            if media.timeout_ms == 0 {
                errors.push(source.error_at(
                    media.path.span(),
                    format!("{key}.timeout_ms"),
                    "must be at least 1",
                ));
            }
        }
        for (view_name, view) in &self.views {
            self.validate_view(source, view_name, view, &mut errors);
        }
        self.validate_routes(source, &mut errors);
        self.validate_limits(source, &mut errors);
        self.validate_identity(source, &mut errors);
        errors
    }

    /// Sign-in, user parts, vault keys and forwarded headers: nothing may speak for a shopper
    /// without `[identity]`, nothing of a shopper's may reach a shared cache, and the key ring
    /// must be readable.
    fn validate_identity(&self, source: &Source, errors: &mut Vec<ConfigError>) {
        for (name, upstream) in &self.upstreams {
            for header in &upstream.forward_headers {
                if let Some(why) = forward_problem(header.get_ref()) {
                    errors.push(source.error_at(
                        header.span(),
                        format!("upstreams.{name}.forward_headers"),
                        format!("{:?} {why}", header.get_ref()),
                    ));
                }
            }
        }
        let identity = self.identity.as_ref();
        let no_identity = "needs an [identity] section (who the shopper is)";
        for (view_name, view) in &self.views {
            let parts = view.parts.get_ref();
            let scope_of = |part: &super::types::PartConfig| part.scope_in(view);
            for (part_name, part) in parts {
                let key = format!("views.{view_name}.parts.{part_name}");
                let span = part
                    .scope
                    .as_ref()
                    .map_or_else(|| part.path.span(), Spanned::span);
                if scope_of(part) != Scope::User {
                    // A shared part must not read a user part: it would carry the shopper's
                    // data into shared caches.
                    let reads = Template::parse(part.path.get_ref())
                        .map(|t| t.dependencies().into_iter().map(str::to_owned).collect())
                        .unwrap_or_else(|_| Vec::new())
                        .into_iter()
                        .chain(
                            part.each
                                .as_ref()
                                .and_then(|e| FieldRef::parse(e.get_ref()).ok())
                                .map(|f| f.part),
                        );
                    for dep in reads {
                        if parts.get(&dep).is_some_and(|d| scope_of(d) == Scope::User) {
                            errors.push(source.error_at(
                                part.path.span(),
                                format!("{key}.scope"),
                                format!(
                                    "reads the user part {dep:?}, so it must be `scope = \"user\"` too"
                                ),
                            ));
                        }
                    }
                    continue;
                }
                if identity.is_none() {
                    errors.push(source.error_at(span.clone(), format!("{key}.scope"), no_identity));
                }
                if part.cache.is_some() {
                    errors.push(source.error_at(
                        span,
                        format!("{key}.cache"),
                        "a user part is never cached (it is one shopper's): remove `cache`",
                    ));
                }
            }
        }
        for (name, action) in &self.actions {
            if let Some(field) = &action.user_field {
                if identity.is_none() {
                    errors.push(source.error_at(
                        field.span(),
                        format!("actions.{name}.user_field"),
                        no_identity,
                    ));
                }
                if field.get_ref().is_empty() {
                    errors.push(source.error_at(
                        field.span(),
                        format!("actions.{name}.user_field"),
                        "must name a field",
                    ));
                }
            }
        }
        for (name, grant) in &self.grants {
            let key = format!("grants.{name}");
            let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
            if name.is_empty() || !name.bytes().all(plain) {
                errors.push(source.error_at(
                    grant.path.span(),
                    key.clone(),
                    "a grant's name is letters, digits, '-' and '_'",
                ));
            }
            if identity.is_none() {
                errors.push(source.error_at(grant.upstream.span(), key.clone(), no_identity));
            }
            errors.extend(self.unknown_upstream(source, &grant.upstream, &key));
            let path = grant.path.get_ref();
            let rest = path.replacen("{id}", "", 1);
            // What is signed is the path as written, and what the browser sends must be the
            // same bytes: unreserved characters and '/' only, no dot segments.
            let plain_path = rest.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~')
            }) && !rest
                .split('/')
                .any(|segment| segment == "." || segment == "..");
            if !path.starts_with('/') || !path.contains("{id}") || !plain_path {
                errors.push(source.error_at(
                    grant.path.span(),
                    format!("{key}.path"),
                    "must start with '/' and hold {id} once; the rest only letters, digits and '/', '-', '_', '.', '~' (no query, no dot segments)",
                ));
            }
            if !(1..=MAX_GRANT_LIFETIME_S).contains(&grant.lifetime_s) {
                errors.push(source.error_at(
                    key_span(source, &key, "lifetime_s"),
                    format!("{key}.lifetime_s"),
                    format!(
                        "must be from 1 to {MAX_GRANT_LIFETIME_S} s, got {}",
                        grant.lifetime_s
                    ),
                ));
            }
            if let Some(url) = &grant.public_url
                && let Err(why) = check_origin(url.get_ref())
            {
                errors.push(source.error_at(url.span(), format!("{key}.public_url"), why));
            }
        }
        if let Some(identity) = identity {
            self.validate_identity_section(source, identity, errors);
        }
    }

    fn validate_identity_section(
        &self,
        source: &Source,
        identity: &IdentityConfig,
        errors: &mut Vec<ConfigError>,
    ) {
        errors.extend(self.unknown_upstream(source, &identity.accounts, "identity"));
        let mut range = |key: &str, value: u64, (low, high): (u64, u64), unit: &str| {
            if !(low..=high).contains(&value) {
                errors.push(source.error_at(
                    key_span(source, "identity", key),
                    format!("identity.{key}"),
                    format!("must be from {low} to {high} {unit}, got {value}"),
                ));
            }
        };
        range(
            "token_lifetime_s",
            identity.token_lifetime_s,
            (1, tessera_contract::keys::MAX_TOKEN_LIFETIME_S),
            "s",
        );
        range(
            "session_ttl_s",
            identity.session_ttl_s,
            (60, 30 * 86_400),
            "s",
        );
        range(
            "failure_window_s",
            identity.failure_window_s,
            (1, 86_400),
            "s",
        );
        range(
            "sign_in_timeout_ms",
            identity.sign_in_timeout_ms,
            (1, MAX_TIMEOUT_MS),
            "ms",
        );
        range(
            "max_failures_per_user",
            identity.max_failures_per_user.into(),
            (1, 1_000_000),
            "",
        );
        range(
            "max_failures_per_address",
            identity.max_failures_per_address.into(),
            (1, 1_000_000),
            "",
        );
        let cookie = &identity.cookie_name;
        if cookie.is_empty()
            || !cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            errors.push(source.error_at(
                key_span(source, "identity", "cookie_name"),
                "identity.cookie_name",
                "a cookie name is letters, digits, '-' and '_'",
            ));
        }
        if !identity.check_path.starts_with('/') {
            errors.push(source.error_at(
                key_span(source, "identity", "check_path"),
                "identity.check_path",
                "must start with '/'",
            ));
        }
        for origin in &identity.allowed_origins {
            if let Err(why) = check_origin(origin.get_ref()) {
                errors.push(source.error_at(origin.span(), "identity.allowed_origins", why));
            }
        }
        // The key ring: readable, and holding the key that signs (a ring `generate_keys` will
        // fill at start may be empty).
        let ring = match tessera_contract::keys::SigningKey::read_ring(identity.keys_dir.get_ref())
        {
            Ok(ring) => ring,
            Err(e) => {
                errors.push(source.error_at(
                    identity.keys_dir.span(),
                    "identity.keys_dir",
                    e.to_string(),
                ));
                return;
            }
        };
        let kids: Vec<&str> = ring.iter().map(|k| k.kid()).collect();
        let empty_but_generated = kids.is_empty() && identity.generate_keys;
        match &identity.signing_key {
            _ if empty_but_generated => {}
            Some(kid) if !kids.contains(&kid.get_ref().as_str()) => errors.push(source.error_at(
                kid.span(),
                "identity.signing_key",
                format!(
                    "no private key {:?} in {} (it has: {})",
                    kid.get_ref(),
                    identity.keys_dir.get_ref().display(),
                    if kids.is_empty() { "none".to_owned() } else { kids.join(", ") }
                ),
            )),
            None if kids.len() != 1 => errors.push(source.error_at(
                identity.keys_dir.span(),
                "identity.keys_dir",
                if kids.is_empty() {
                    format!(
                        "no private key in {} (write one with `tessera-bff keys generate --dir {}`, or set generate_keys = true)",
                        identity.keys_dir.get_ref().display(),
                        identity.keys_dir.get_ref().display()
                    )
                } else {
                    format!("several private keys ({}): say which signs with `signing_key`", kids.join(", "))
                },
            )),
            _ => {}
        }
    }

    /// Numbers and texts the types accept but the BFF cannot use: zero or absurdly long
    /// durations (a deadline past what `Instant` can hold would panic), retry budgets outside
    /// what the budget accepts, an asset origin that is no plain origin.
    fn validate_limits(&self, source: &Source, errors: &mut Vec<ConfigError>) {
        let mut check = |table: String, key: &str, value: u64, range: (u64, u64)| {
            if !(range.0..=range.1).contains(&value) {
                errors.push(source.error_at(
                    key_span(source, &table, key),
                    format!("{table}.{key}"),
                    format!("must be from {} to {} ms, got {value}", range.0, range.1),
                ));
            }
        };
        let timeout = (1, MAX_TIMEOUT_MS);
        // For values whose zero has an error of its own (validate_view, media above).
        let most = (0, MAX_TIMEOUT_MS);
        check(
            "cache".into(),
            "redis_timeout_ms",
            self.cache.redis_timeout_ms,
            timeout,
        );
        check(
            "cache".into(),
            "edge_timeout_ms",
            self.cache.edge_timeout_ms,
            timeout,
        );
        let read = self.server.header_read_timeout_ms;
        check("server".into(), "header_read_timeout_ms", read, timeout);
        for (name, upstream) in &self.upstreams {
            let table = format!("upstreams.{name}");
            check(
                table.clone(),
                "connect_timeout_ms",
                upstream.connect_timeout_ms,
                timeout,
            );
            let (breaker, ejection, retry) =
                (&upstream.breaker, &upstream.ejection, &upstream.retry);
            check(
                format!("{table}.breaker"),
                "open_ms",
                breaker.open_ms,
                (1, MAX_PAUSE_MS),
            );
            check(
                format!("{table}.ejection"),
                "eject_ms",
                ejection.eject_ms,
                (0, MAX_PAUSE_MS),
            );
            check(
                format!("{table}.retry"),
                "backoff_ms",
                retry.backoff_ms,
                (0, MAX_TIMEOUT_MS),
            );
            check(
                format!("{table}.retry"),
                "max_backoff_ms",
                retry.max_backoff_ms,
                (0, MAX_TIMEOUT_MS),
            );
            if let Some(attempt) = retry.attempt_timeout_ms {
                check(
                    format!("{table}.retry"),
                    "attempt_timeout_ms",
                    attempt,
                    timeout,
                );
            }
        }
        for (name, action) in &self.actions {
            check(
                format!("actions.{name}"),
                "timeout_ms",
                action.timeout_ms,
                timeout,
            );
        }
        for (name, media) in &self.media {
            check(
                format!("media.{name}"),
                "timeout_ms",
                media.timeout_ms,
                most,
            );
        }
        for (view_name, view) in &self.views {
            let table = format!("views.{view_name}");
            check(table.clone(), "budget_ms", *view.budget_ms.get_ref(), most);
            for (part_name, part) in view.parts.get_ref() {
                let table = format!("{table}.parts.{part_name}");
                check(table, "timeout_ms", *part.timeout_ms.get_ref(), most);
            }
        }
        let detached = self.cache.max_detached_fills;
        if detached > MAX_DETACHED_FILLS {
            errors.push(source.error_at(
                key_span(source, "cache", "max_detached_fills"),
                "cache.max_detached_fills",
                format!("must be from 0 to {MAX_DETACHED_FILLS}, got {detached}"),
            ));
        }
        let head = self.server.max_header_bytes;
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&head) {
            errors.push(source.error_at(
                key_span(source, "server", "max_header_bytes"),
                "server.max_header_bytes",
                format!("must be from {MIN_HEADER_BYTES} to {MAX_HEADER_BYTES} bytes, got {head}"),
            ));
        }
        for (name, upstream) in &self.upstreams {
            let percent = upstream.retry.budget_percent;
            if !(0.0..=MAX_BUDGET_PERCENT).contains(&percent) {
                let table = format!("upstreams.{name}.retry");
                errors.push(source.error_at(
                    key_span(source, &table, "budget_percent"),
                    format!("{table}.budget_percent"),
                    format!("must be from 0 to {MAX_BUDGET_PERCENT}, got {percent}"),
                ));
            }
        }
        if let Some(url) = &self.cache.edge_purge_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push(source.error_at(
                key_span(source, "cache", "edge_purge_url"),
                "cache.edge_purge_url",
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        if axum::http::HeaderName::try_from(self.cache.edge_tag_header.as_str()).is_err() {
            errors.push(source.error_at(
                key_span(source, "cache", "edge_tag_header"),
                "cache.edge_tag_header",
                format!(
                    "must be a header name, got {:?}",
                    self.cache.edge_tag_header
                ),
            ));
        }
        if let Some(origin) = &self.server.asset_origin
            && let Err(why) = check_origin(origin)
        {
            errors.push(source.error_at(
                key_span(source, "server", "asset_origin"),
                "server.asset_origin",
                why,
            ));
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint
            && let Err(why) = check_origin(endpoint.trim_end_matches('/'))
        {
            errors.push(source.error_at(
                key_span(source, "telemetry", "otlp_endpoint"),
                "telemetry.otlp_endpoint",
                format!(
                    "must be the collector's OTLP/HTTP base URL (e.g. http://127.0.0.1:4318): {why}"
                ),
            ));
        }
        for (view, ids) in &self.warmup.views {
            let span = || key_span(source, "warmup", "views");
            match self.views.get(view) {
                None => errors.push(source.error_at(
                    span(),
                    format!("warmup.views.{view}"),
                    format!(
                        "must be a configured view (one of: {})",
                        self.views.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )),
                Some(config) => {
                    for id in ids {
                        if let Err(e) = config.id.check(id) {
                            errors.push(source.error_at(
                                span(),
                                format!("warmup.views.{view}"),
                                e.to_string(),
                            ));
                        }
                    }
                }
            }
        }
        let warm = &self.warmup;
        if !(1..=64).contains(&warm.concurrency) {
            errors.push(source.error_at(
                key_span(source, "warmup", "concurrency"),
                "warmup.concurrency",
                format!("must be from 1 to 64, got {}", warm.concurrency),
            ));
        }
        if !(1..=600_000).contains(&warm.timeout_ms) {
            errors.push(source.error_at(
                key_span(source, "warmup", "timeout_ms"),
                "warmup.timeout_ms",
                format!("must be from 1 to 600000 ms, got {}", warm.timeout_ms),
            ));
        }
        let delay = self.telemetry.export_delay_ms;
        if !(1..=60_000).contains(&delay) {
            errors.push(source.error_at(
                key_span(source, "telemetry", "export_delay_ms"),
                "telemetry.export_delay_ms",
                format!("must be from 1 to 60000 ms, got {delay}"),
            ));
        }
    }

    fn validate_view(
        &self,
        source: &Source,
        view_name: &str,
        view: &ViewConfig,
        errors: &mut Vec<ConfigError>,
    ) {
        let view_key = format!("views.{view_name}");
        if *view.budget_ms.get_ref() == 0 {
            errors.push(source.error_at(
                view.budget_ms.span(),
                format!("{view_key}.budget_ms"),
                "must be greater than 0",
            ));
        }
        if view.parts.get_ref().is_empty() {
            errors.push(source.error_at(
                view.parts.span(),
                format!("{view_key}.parts"),
                "a view needs at least one part",
            ));
        }
        let parts = view.parts.get_ref();
        let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (part_name, part) in parts {
            let key = format!("{view_key}.parts.{part_name}");
            errors.extend(self.unknown_upstream(source, &part.upstream, &key));
            if let Err(problems) = Shape::parse(&part.shape_spec()) {
                for problem in problems {
                    let span = part.shape_span(problem.key).unwrap_or(0..0);
                    errors.push(source.error_at(
                        span,
                        format!("{key}.{}", problem.key),
                        problem.message,
                    ));
                }
            }
            if *part.timeout_ms.get_ref() == 0 {
                errors.push(source.error_at(
                    part.timeout_ms.span(),
                    format!("{key}.timeout_ms"),
                    "must be greater than 0",
                ));
            }
            let template = match Template::parse(part.path.get_ref()) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(source.error_at(
                        part.path.span(),
                        format!("{key}.path"),
                        e.to_string(),
                    ));
                    continue;
                }
            };
            let each = part
                .each
                .as_ref()
                .map(|each| (each, FieldRef::parse(each.get_ref())));
            let mut each_part = None;
            match &each {
                None if template.params().any(|p| *p == Param::Item) => {
                    errors.push(source.error_at(
                        part.path.span(),
                        format!("{key}.path"),
                        "{item} needs `each` (the list whose items the part is called for)",
                    ));
                }
                Some((each, Err(_))) => errors.push(source.error_at(
                    each.span(),
                    format!("{key}.each"),
                    format!(
                        "{:?} is not a field of another part (`part.list.*.id`)",
                        each.get_ref()
                    ),
                )),
                Some((each, Ok(field))) if !parts.contains_key(&field.part) => {
                    errors.push(source.error_at(
                        each.span(),
                        format!("{key}.each"),
                        format!("no part {:?} in this view", field.part),
                    ));
                }
                Some((_, Ok(_))) if !template.params().any(|p| *p == Param::Item) => {
                    errors.push(source.error_at(
                        part.path.span(),
                        format!("{key}.path"),
                        "a part with `each` puts {item} in its path",
                    ));
                }
                Some((each, Ok(field))) if !field.has_one_list() => {
                    errors.push(source.error_at(
                        each.span(),
                        format!("{key}.each"),
                        format!(
                            "{:?} must go through exactly one list (`*`)",
                            each.get_ref()
                        ),
                    ));
                }
                Some((_, Ok(field))) => each_part = Some(field.part.clone()),
                None => {}
            }
            let concurrency = *part.each_concurrency.get_ref();
            if !(1..=MAX_EACH_CONCURRENCY).contains(&concurrency) {
                errors.push(source.error_at(
                    part.each_concurrency.span(),
                    format!("{key}.each_concurrency"),
                    format!("must be from 1 to {MAX_EACH_CONCURRENCY}, got {concurrency}"),
                ));
            }
            for param in template.params() {
                let unprovided = match param {
                    Param::Id | Param::Page | Param::Item => continue,
                    Param::Unknown(name) => format!("{{{name}}}"),
                    Param::Field { part: dep, .. } if parts.contains_key(dep) => continue,
                    Param::Field { part: dep, .. } => {
                        format!("{{{dep}.…}} (no part {dep:?} in this view)")
                    }
                };
                errors.push(source.error_at(
                    part.path.span(),
                    format!("{key}.path"),
                    format!("nothing provides the template parameter {unprovided}"),
                ));
            }
            let deps = template
                .dependencies()
                .into_iter()
                .chain(each_part.as_deref())
                .filter_map(|d| parts.get_key_value(d).map(|(k, _)| k.as_str()))
                .collect();
            graph.insert(part_name, deps);
        }
        for cycle in cycles(&graph) {
            let first = &parts[cycle[0]];
            errors.push(source.error_at(
                first.path.span(),
                format!("{view_key}.parts.{}.path", cycle[0]),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ));
        }
    }

    /// An error at `{key}.upstream` if it names no configured upstream.
    fn unknown_upstream(
        &self,
        source: &Source,
        upstream: &Spanned<String>,
        key: &str,
    ) -> Option<ConfigError> {
        (!self.upstreams.contains_key(upstream.get_ref())).then(|| {
            source.error_at(
                upstream.span(),
                format!("{key}.upstream"),
                format!("unknown upstream {:?}", upstream.get_ref()),
            )
        })
    }

    /// Where `[upstreams.<name>]` starts, for errors about the table as a whole.
    fn upstream_span(&self, source: &Source, name: &str) -> Range<usize> {
        let header = format!("[upstreams.{name}]");
        let start = source.text.find(&header).unwrap_or(0);
        start..start + header.len()
    }
}

/// The longest a vault key may live: an hour.
const MAX_GRANT_LIFETIME_S: u64 = 3_600;

/// Why a header may not be passed on to an upstream, if it may not: the BFF speaks for the
/// user (no cookie, no credentials), and sets the headers of the connection and its own.
fn forward_problem(name: &str) -> Option<&'static str> {
    const NEVER: [&str; 16] = [
        "cookie",
        "authorization",
        "proxy-authorization",
        "set-cookie",
        "host",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "accept",
        "if-none-match",
        "x-request-id",
        "traceparent",
    ];
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() || name != name.to_lowercase() {
        return Some("is not a header name (lowercase letters, digits and '-')");
    }
    if matches!(
        name,
        "cookie" | "authorization" | "proxy-authorization" | "set-cookie"
    ) {
        return Some("cannot be forwarded: the BFF speaks for the user");
    }
    if NEVER.contains(&name) || name == "tracestate" {
        return Some("cannot be forwarded: the BFF sets it itself");
    }
    None
}

/// The longest timeout or budget accepted: an hour is far beyond any page, and far inside what
/// deadline arithmetic can hold.
/// More calls at once than this for one per-item part would be no bound.
const MAX_EACH_CONCURRENCY: usize = 64;
/// More detached fills than this would be no bound on abandoned upstream load.
const MAX_DETACHED_FILLS: usize = 100_000;
const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// The longest a breaker may stay open or a host ejected: a day.
const MAX_PAUSE_MS: u64 = 86_400_000;
/// Request heads: at least what ordinary browsers send, at most what the server buffers.
const MIN_HEADER_BYTES: usize = 4 * 1024;
const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// The largest retry budget, in percent of requests, that the retry budget accepts.
const MAX_BUDGET_PERCENT: f32 = 1_000.0;

/// Where `key = …` is written in `[table]` (or the table's header, or the start of the file):
/// for errors about values that carry no position of their own.
fn key_span(source: &Source, table: &str, key: &str) -> Range<usize> {
    let text = &source.text;
    let Some(header) = text.find(&format!("[{table}]")) else {
        return 0..0;
    };
    let body_start = header + table.len() + 2;
    let body_end = text[body_start..]
        .find("\n[")
        .map_or(text.len(), |i| body_start + i);
    let mut offset = body_start;
    for line in text[body_start..body_end].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some((name, _)) = trimmed.split_once('=')
            && name.trim() == key
        {
            let start = offset + (line.len() - trimmed.len());
            return start..start + key.len();
        }
        offset += line.len();
    }
    header..body_start
}

/// SECURITY: the asset origin goes into the page's Content-Security-Policy and its links, so it
/// must be a plain `http(s)://host[:port]` — nothing that could end a directive or an attribute.
pub(super) fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{origin:?} is not an http(s) origin"))?;
    let host = rest.trim_end_matches('/');
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if plain {
        Ok(())
    } else {
        Err(format!(
            "{origin:?} must be scheme, host and port only (ASCII letters, digits, '.', '-', ':')"
        ))
    }
}

/// Every dependency cycle of a view's parts, each once, as `a -> b -> a` starting from its
/// alphabetically first part.
fn cycles<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    for &start in graph.keys() {
        // Depth-first search for a path from `start` back to itself through parts named after it
        // (so each cycle is reported from its first part only).
        let mut stack = vec![(start, vec![start])];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for &next in graph.get(node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start);
                    found.push(cycle);
                    stack.clear();
                    break;
                }
                if next > start && seen.insert(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    found
}
