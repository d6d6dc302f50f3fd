//! The BFF's one typed configuration: a TOML file (the demo's defaults are compiled in), then
//! environment overrides, then command-line flags. Unknown keys are errors, and every error names
//! the file, line and key.
//!
//! - `types`: what each section holds, with its defaults;
//! - `validate`: the cross-checks `tessera-bff check` runs;
//! - `source`: files, the built-in config, environment overrides, error positions;
//! - `loader`: file, environment and flags in order, as `check`, start and reload read them;
//! - `route`: the route table (the view each page of the front end shows);
//! - `template`: the path-template language of parts (parsed and checked here, rendered by
//!   the composition).

mod loader;
pub mod route;
pub mod shape;
mod source;
pub(crate) mod template;
mod types;
mod validate;

pub use loader::Loader;
pub use route::RouteConfig;
use source::key_at;
pub use source::{ConfigError, DEFAULT_CONFIG, DEFAULT_CONFIG_NAME, Source};
pub use types::*;

impl Config {
    /// Parses and validates a configuration.
    pub fn parse(source: &Source) -> Result<Self, Vec<ConfigError>> {
        let config: Config = toml::from_str(&source.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let key = key_at(&source.text, span.start);
            vec![source.error_at(span, key, e.message().trim().to_owned())]
        })?;
        let errors = config.validate(source);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            name: "test.toml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_builtin_config_is_valid() {
        let config = Config::parse(&Source::builtin()).expect("built-in config parses");
        assert!(config.views.contains_key("product"));
        assert_eq!(config.server.listen.port(), 8080);
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n";
        let errors = Config::parse(&source(text)).unwrap_err();
        let message = errors[0].to_string();
        assert!(message.starts_with("test.toml:3:"), "{message}");
        assert!(message.contains("server.lisen"), "{message}");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn unknown_upstreams_and_template_params_are_reported_together() {
        let text = r#"
[upstreams.catalog]
url = "http://127.0.0.1:1"

[views.v]
id = "integer"
[views.v.parts.a]
upstream = "catalgo"
path = "/products/{id}/{sku}"
timeout_ms = 100
"#;
        let errors: Vec<String> = Config::parse(&source(text))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("test.toml:8:"), "{errors:?}");
        assert!(errors[0].contains("views.v.parts.a.upstream") && errors[0].contains("catalgo"));
        assert!(errors[1].starts_with("test.toml:9:") && errors[1].contains("{sku}"));
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let mut config = Config::parse(&Source::builtin()).unwrap();
        config
            .apply_env(|k| match k {
                "TESSERA_LISTEN" => Some("127.0.0.1:9999".into()),
                "TESSERA_UPSTREAM_CATALOG_URL" => Some("http://10.0.0.1:1".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.server.listen.port(), 9999);
        assert_eq!(
            config.upstreams["catalog"].hosts().collect::<Vec<_>>(),
            ["http://10.0.0.1:1"]
        );
        let bad = config.apply_env(|k| (k == "TESSERA_LISTEN").then(|| "nope".into()));
        assert!(bad.unwrap_err().to_string().contains("TESSERA_LISTEN"));
    }
}
