//! `tessera-bff check` (and `serve`) on broken configuration files: the real binary, exit codes
//! and messages that name the file, line and key.

use std::path::Path;
use std::process::{Command, Output};

const BASE: &str = r#"[server]
listen = "127.0.0.1:0"

[upstreams.catalog]
url = "http://127.0.0.1:1"

[views.product]
id = "integer"

[views.product.parts.product]
upstream = "catalog"
path = "/products/{id}"
timeout_ms = 500
"#;

fn run(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera-bff"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("TESSERA_CONFIG")
        .env("TESSERA_DIST_DIR", "/nonexistent")
        .output()
        .expect("the binary runs")
}

/// Writes `text` to a file, runs `check` on it, and returns the file name and stderr lines.
fn check(text: &str) -> (String, Output, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tessera.toml");
    std::fs::write(&path, text).unwrap();
    let output = run(&["check"], &path);
    let errors = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.starts_with("error: "))
        .map(str::to_owned)
        .collect();
    (path.display().to_string(), output, errors)
}

/// Asserts exactly one error at `line` about `key` containing `words`.
fn assert_one_error(text: &str, line: usize, key: &str, words: &str) {
    let (file, output, errors) = check(text);
    assert!(!output.status.success(), "check must fail on:\n{text}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let prefix = format!("error: {file}:{line}:");
    assert!(errors[0].starts_with(&prefix), "{} vs {prefix}", errors[0]);
    assert!(errors[0].contains(key), "{} lacks {key}", errors[0]);
    assert!(errors[0].contains(words), "{} lacks {words}", errors[0]);
}

#[test]
fn a_valid_file_passes() {
    let (_, output, errors) = check(BASE);
    assert!(output.status.success(), "{errors:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("configuration is valid"));
}

#[test]
fn unknown_keys_are_reported() {
    let text = BASE.replace("timeout_ms = 500", "timeout_ms = 500\ncritcal = true");
    assert_one_error(
        &text,
        14,
        "views.product.parts.product.critcal",
        "unknown field",
    );
}

#[test]
fn unknown_upstreams_are_reported() {
    let text = BASE.replace("upstream = \"catalog\"", "upstream = \"catalogue\"");
    assert_one_error(
        &text,
        11,
        "views.product.parts.product.upstream",
        "catalogue",
    );
}

#[test]
fn template_parameters_nothing_provides_are_reported() {
    for (path, words) in [
        ("/products/{sku}", "{sku}"),
        ("/products/{pricing.sku}", "no part \"pricing\""),
    ] {
        let text = BASE.replace("/products/{id}", path);
        assert_one_error(&text, 12, "views.product.parts.product.path", words);
    }
}

#[test]
fn media_relays_are_checked() {
    // Line 16 is the media's upstream, line 17 its path.
    for (upstream, path, line, key, words) in [
        (
            "nope",
            "/images/{file}",
            16,
            "media.images.upstream",
            "nope",
        ),
        ("catalog", "/images/{id}", 17, "media.images.path", "{file}"),
        (
            "catalog",
            "images/{file}",
            17,
            "media.images.path",
            "start with '/'",
        ),
    ] {
        let text =
            format!("{BASE}\n[media.images]\nupstream = \"{upstream}\"\npath = \"{path}\"\n");
        assert_one_error(&text, line, key, words);
    }
    let (_, output, errors) = check(&format!(
        "{BASE}\n[media.images]\nupstream = \"catalog\"\npath = \"/images/{{file}}\"\n"
    ));
    assert!(output.status.success(), "{errors:?}");
}

#[test]
fn action_drop_prefixes_are_checked() {
    // Line 18 is the action's `invalidate`.
    for (prefix, words) in [
        ("catalog", "upstream's `name:`"),
        ("nope:/products/{id}/", "no configured upstream"),
        ("catalog:/products?id={id}", "has a query"),
    ] {
        let text = format!(
            "{BASE}\n[actions.review]\nupstream = \"catalog\"\npath = \"/products/{{id}}/reviews\"\ninvalidate = [\"{prefix}\"]\n"
        );
        assert_one_error(&text, 18, "actions.review.invalidate", words);
    }
}

#[test]
fn shaping_and_per_item_settings_are_checked() {
    // Lines 14 to 16 follow the part's timeout_ms (line 13).
    for (lines, line, key, words) in [
        (
            "select = [\"items..id\"]",
            14,
            "parts.product.select",
            "neither a field name",
        ),
        (
            "select = [\"name\"]\nomit = [\"price\"]",
            15,
            "parts.product.omit",
            "select drops it",
        ),
        (
            "transform = \".items[\"",
            14,
            "parts.product.transform",
            "does not parse",
        ),
        (
            "transform = \"nosuch(1)\"",
            14,
            "parts.product.transform",
            "undefined filter",
        ),
        (
            "each = \"product.items.*.id\"",
            12,
            "parts.product.path",
            "{item}",
        ),
        (
            "each = \"nowhere.items.*.id\"",
            14,
            "parts.product.each",
            "no part",
        ),
        (
            "each_concurrency = 0",
            14,
            "parts.product.each_concurrency",
            "from 1 to",
        ),
        ("select = []", 14, "parts.product.select", "keeps nothing"),
        (
            "transform = \"def f: f; f\"",
            14,
            "parts.product.transform",
            "`def`",
        ),
    ] {
        let text = BASE.replace("timeout_ms = 500", &format!("timeout_ms = 500\n{lines}"));
        assert_one_error(&text, line, key, words);
    }
    let text = BASE.replace("/products/{id}", "/products/{item}");
    assert_one_error(&text, 12, "parts.product.path", "needs `each`");
}

#[test]
fn the_log_format_is_checked() {
    let text = format!("{BASE}\n[log]\nformat = \"xml\"\n");
    assert_one_error(&text, 16, "log.format", "unknown variant");
}

#[test]
fn dependency_cycles_are_reported() {
    let text = format!(
        "{BASE}
[views.product.parts.a]
upstream = \"catalog\"
path = \"/a/{{b.id}}\"
timeout_ms = 500

[views.product.parts.b]
upstream = \"catalog\"
path = \"/b/{{a.id}}\"
timeout_ms = 500

[views.product.parts.own]
upstream = \"catalog\"
path = \"/own/{{own.id}}\"
timeout_ms = 500
"
    );
    let (file, output, errors) = check(&text);
    assert!(!output.status.success());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("error: {file}:17:"))
            && errors[0].contains("views.product.parts.a.path")
            && errors[0].contains("a -> b -> a"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with(&format!("error: {file}:27:")) && errors[1].contains("own -> own"),
        "{errors:?}"
    );
}

#[test]
fn every_error_is_reported_at_once_and_serve_refuses_to_start() {
    let text = BASE
        .replace("upstream = \"catalog\"", "upstream = \"nope\"")
        .replace("/products/{id}", "/products/{id}/{sku}")
        .replace("timeout_ms = 500", "timeout_ms = 0");
    let (_, output, errors) = check(&text);
    assert!(!output.status.success());
    assert_eq!(errors.len(), 3, "{errors:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &text).unwrap();
    let serve = run(&[], &path);
    assert!(
        !serve.status.success(),
        "serve must refuse an invalid config"
    );
    let stderr = String::from_utf8_lossy(&serve.stderr);
    for error in &errors {
        // The same error, apart from the file's name: `:line:col: key: message`.
        let message = error.split_once(".toml").unwrap().1;
        assert!(stderr.contains(message), "{stderr} lacks {message}");
    }
}

#[test]
fn syntax_errors_and_missing_files_are_reported() {
    let (file, output, errors) = check("[server\nlisten = 1\n");
    assert!(!output.status.success());
    assert!(
        errors[0].starts_with(&format!("error: {file}:1:")),
        "{errors:?}"
    );

    let missing = run(&["check"], Path::new("/nonexistent/tessera.toml"));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/tessera.toml"));
}

/// The 1-based line of the first `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("the needle is in the text");
    text[..at].matches('\n').count() + 1
}

/// Values the types accept but the BFF could not run with (issue 14, item 16): each is reported
/// at its own line and key instead of panicking or misbehaving at run time.
#[test]
fn values_that_would_fail_at_run_time_are_reported() {
    let slow = "\n[upstreams.slow]\nurl = \"http://127.0.0.1:2\"\n";
    let cases = [
        (
            format!("{BASE}{slow}connect_timeout_ms = 0\n"),
            "connect_timeout_ms = 0",
            "upstreams.slow.connect_timeout_ms",
        ),
        (
            format!("{BASE}{slow}[upstreams.slow.breaker]\nopen_ms = 9223372036854775807\n"),
            "open_ms",
            "upstreams.slow.breaker.open_ms",
        ),
        (
            format!("{BASE}{slow}[upstreams.slow.ejection]\neject_ms = 9223372036854775807\n"),
            "eject_ms",
            "upstreams.slow.ejection.eject_ms",
        ),
        (
            format!("{BASE}{slow}[upstreams.slow.retry]\nbudget_percent = -1.0\n"),
            "budget_percent",
            "upstreams.slow.retry.budget_percent",
        ),
        (
            format!("{BASE}{slow}[upstreams.slow.retry]\nbudget_percent = nan\n"),
            "budget_percent",
            "upstreams.slow.retry.budget_percent",
        ),
        (
            format!("{BASE}\n[cache]\nedge_tag_header = \"x key\"\n"),
            "edge_tag_header",
            "cache.edge_tag_header",
        ),
        (
            format!("{BASE}\n[cache]\nredis_timeout_ms = 0\n"),
            "redis_timeout_ms",
            "cache.redis_timeout_ms",
        ),
        (
            BASE.replace("timeout_ms = 500", "timeout_ms = 9223372036854775807"),
            "timeout_ms",
            "views.product.parts.product.timeout_ms",
        ),
        (
            BASE.replace(
                "id = \"integer\"",
                "id = \"integer\"\nbudget_ms = 9223372036854775807",
            ),
            "budget_ms",
            "views.product.budget_ms",
        ),
        (
            BASE.replace(
                "listen = \"127.0.0.1:0\"",
                "listen = \"127.0.0.1:0\"\nasset_origin = \"https://cdn.example; script-src *\"",
            ),
            "asset_origin",
            "server.asset_origin",
        ),
        (
            BASE.replace(
                "listen = \"127.0.0.1:0\"",
                "listen = \"127.0.0.1:0\"\nasset_origin = \"https://cdn.exämple\"",
            ),
            "asset_origin",
            "server.asset_origin",
        ),
        (
            format!(
                "{BASE}\n[actions.write]\nupstream = \"catalog\"\npath = \"/w/{{id}}\"\ntimeout_ms = 0\n"
            ),
            "timeout_ms = 0",
            "actions.write.timeout_ms",
        ),
        (
            format!("{BASE}\n[telemetry]\notlp_endpoint = \"collector:4318\"\n"),
            "otlp_endpoint",
            "telemetry.otlp_endpoint",
        ),
        (
            format!("{BASE}\n[telemetry]\nexport_delay_ms = 0\n"),
            "export_delay_ms",
            "telemetry.export_delay_ms",
        ),
        (
            format!("{BASE}\n[warmup]\nviews = {{ nope = [\"1\"] }}\n"),
            "nope",
            "warmup.views.nope",
        ),
        (
            format!("{BASE}\n[warmup]\nconcurrency = 0\n"),
            "concurrency",
            "warmup.concurrency",
        ),
    ];
    for (text, needle, key) in cases {
        assert_one_error(&text, line_of(&text, needle), key, "must be");
    }
}

/// Environment overrides are checked like the file, and the error names the variable.
#[test]
fn bad_environment_overrides_are_reported_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tessera.toml");
    std::fs::write(&path, BASE).unwrap();
    for (variable, value) in [
        ("TESSERA_UPSTREAM_CATALOG_URL", "ftp://127.0.0.1:1"),
        (
            "TESSERA_ASSET_ORIGIN",
            "https://cdn.example/'unsafe-inline'",
        ),
        ("TESSERA_LOG_FORMAT", "xml"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_tessera-bff"))
            .args(["check", "--config"])
            .arg(&path)
            .env_remove("TESSERA_CONFIG")
            .env(variable, value)
            .output()
            .expect("the binary runs");
        assert!(!output.status.success(), "{variable}={value} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(variable), "{stderr}");
    }
}

/// Issue 15, item 8: scopes, grants, forwarded headers and the key ring, each at its line.
#[test]
fn identity_settings_are_checked() {
    let keys = tempfile::tempdir().unwrap();
    let ring = keys.path().display().to_string();
    let identity = format!(
        "\n[identity]\naccounts = \"catalog\"\nkeys_dir = \"{ring}\"\ngenerate_keys = true\n"
    );
    let user_part = "\n[views.product.parts.mine]\nupstream = \"catalog\"\npath = \"/me/{id}\"\ntimeout_ms = 500\nscope = \"user\"\n";
    let cases = [
        (
            format!("{BASE}{user_part}"),
            "scope = \"user\"",
            "views.product.parts.mine.scope",
            "[identity]",
        ),
        (
            format!("{BASE}{identity}{user_part}cache = {{ ttl_ms = 1000 }}\n"),
            "scope = \"user\"",
            "views.product.parts.mine.cache",
            "never cached",
        ),
        (
            format!(
                "{BASE}{identity}{user_part}\n[views.product.parts.leak]\nupstream = \"catalog\"\npath = \"/x/{{mine.id}}\"\ntimeout_ms = 500\n"
            ),
            "path = \"/x/",
            "views.product.parts.leak.scope",
            "reads the user part",
        ),
        (
            BASE.replace(
                "url = \"http://127.0.0.1:1\"",
                "url = \"http://127.0.0.1:1\"\nforward_headers = [\"cookie\"]",
            ),
            "forward_headers",
            "upstreams.catalog.forward_headers",
            "speaks for the user",
        ),
        (
            BASE.replace(
                "url = \"http://127.0.0.1:1\"",
                "url = \"http://127.0.0.1:1\"\nforward_headers = [\"Accept Language\"]",
            ),
            "forward_headers",
            "upstreams.catalog.forward_headers",
            "not a header name",
        ),
        (
            format!(
                "{BASE}{identity}\n[grants.invoice]\nupstream = \"catalog\"\npath = \"/invoices/{{id}}?x={{page}}\"\nid = \"integer\"\n"
            ),
            "path = \"/invoices",
            "grants.invoice.path",
            "hold {id} once",
        ),
        (
            format!(
                "{BASE}\n[grants.invoice]\nupstream = \"catalog\"\npath = \"/invoices/{{id}}\"\nid = \"integer\"\n"
            ),
            "upstream = \"catalog\"\npath = \"/invoices",
            "grants.invoice",
            "[identity]",
        ),
        (
            format!("{BASE}{identity}token_lifetime_s = 3600\n"),
            "token_lifetime_s",
            "identity.token_lifetime_s",
            "from 1 to 60",
        ),
        (
            format!("{BASE}\n[identity]\naccounts = \"catalog\"\nkeys_dir = \"{ring}\"\n"),
            "keys_dir",
            "identity.keys_dir",
            "no private key",
        ),
        (
            format!(
                "{BASE}\n[identity]\naccounts = \"catalog\"\nkeys_dir = \"{ring}\"\nsigning_key = \"k-missing\"\n"
            ),
            "signing_key",
            "identity.signing_key",
            "no private key \"k-missing\"",
        ),
    ];
    for (text, at, key, words) in cases {
        assert_one_error(&text, line_of(&text, at), key, words);
    }
    // A key file that is no key is named.
    std::fs::write(keys.path().join("broken.key"), "not a key").unwrap();
    let text = format!("{BASE}{identity}");
    let (_, output, errors) = check(&text);
    assert!(!output.status.success());
    assert!(
        errors
            .iter()
            .any(|e| e.contains("identity.keys_dir") && e.contains("broken.key")),
        "{errors:?}"
    );
    // And a valid ring passes.
    std::fs::remove_file(keys.path().join("broken.key")).unwrap();
    tessera_bff::generate_key(keys.path(), Some("k1")).unwrap();
    let (_, output, errors) = check(&format!("{BASE}{identity}{user_part}"));
    assert!(output.status.success(), "{errors:?}");
}
