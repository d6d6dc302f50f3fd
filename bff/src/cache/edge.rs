//! The edge cache in front of the BFF (a CDN, Varnish): which views it may keep and under
//! which tags, and the purges that reach it when those tags drop.
//!
//! A view made only of fresh shared parts is `public` for as long as its parts stay fresh; it is
//! tagged with every scope its parts' cache keys lie in ([`scopes_of`]), each as 16 hex
//! digits of its SHA-256 (keys hold commas and spaces, which tag lists cannot). A drop — an
//! action's, the admin API's — then purges the tag of its own scope: `reviews:/products/7/`
//! purges every view made from a key under it, and nothing else.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::invalidation::{Invalidation, Scope, scopes_of};

/// The request header Varnish's xkey module purges by (`xkey.purge`).
pub(crate) const PURGE_HEADER: &str = "xkey-purge";

/// A configured edge cache's purge endpoint.
#[derive(Debug, Clone)]
pub(crate) struct EdgeCache {
    client: reqwest::Client,
    url: String,
}

impl EdgeCache {
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            // A redirect is the edge's failure: the purge goes to the configured address only.
            client: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            url: url.to_owned(),
        })
    }

    /// Purges what `target` drops: one `PURGE` with its scope's tag.
    pub(crate) async fn purge(&self, target: &Invalidation) -> Result<(), String> {
        let method = reqwest::Method::from_bytes(b"PURGE").expect("PURGE is a method");
        let response = self
            .client
            .request(method, &self.url)
            .header(PURGE_HEADER, tag(&target.scope()))
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the edge answered {}", response.status()))
        }
    }
}

/// A scope's tag.
fn tag(scope: &Scope) -> String {
    let digest = Sha256::digest(scope.name().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The tags of a view made from these cache keys, space-separated, each once.
pub(crate) fn tags<'a>(keys: impl IntoIterator<Item = &'a str>) -> String {
    let mut tags: Vec<String> = keys
        .into_iter()
        .flat_map(|key| scopes_of(key).iter().map(tag).collect::<Vec<_>>())
        .collect();
    tags.sort();
    tags.dedup();
    tags.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_purges_the_views_made_from_the_keys_under_it() {
        let view = tags(["reviews:/products/7/summary", "catalog:/products/7"]);
        let purges = |target: Invalidation| view.split(' ').any(|t| t == tag(&target.scope()));
        assert!(purges(Invalidation::Prefix("reviews:/products/7/".into())));
        assert!(purges(Invalidation::Key("catalog:/products/7".into())));
        assert!(purges(Invalidation::Prefix(String::new())), "everything");
        assert!(!purges(Invalidation::Prefix(
            "reviews:/products/70/".into()
        )));
        assert!(!purges(Invalidation::Prefix("inventory:".into())));
        assert!(!view.contains(',') && view.split(' ').all(|t| t.len() == 16));
    }
}
