//! Finders: what is on the page now, or once it appears (within [`WAIT`]).

use anyhow::Context;
use fantoccini::Locator;
use fantoccini::elements::Element;

use crate::{Browser, WAIT};

impl Browser {
    /// The first element matching `css`, as the page is now.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("finding {css}"))
    }

    /// Every element matching `css`, as the page is now.
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .with_context(|| format!("finding all of {css}"))
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for {css}"))
    }

    /// The text of the first element matching `css`, waiting for it to appear.
    pub async fn text_of(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.wait_for(css).await?.text().await?)
    }

    /// The attribute `name` of the first element matching `css`, waiting for it to appear.
    pub async fn attr(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self.wait_for(css).await?.attr(name).await?)
    }

    /// The current value of the form field matching `css` (what a person typed, not the
    /// `value` attribute), waiting for it to appear.
    pub async fn value_of(&self, css: &str) -> anyhow::Result<String> {
        Ok(self
            .wait_for(css)
            .await?
            .prop("value")
            .await?
            .unwrap_or_default())
    }

    /// The attribute `name` of every element matching `css` that has it, in page order.
    pub async fn attrs(&self, css: &str, name: &str) -> anyhow::Result<Vec<String>> {
        let mut values = Vec::new();
        for element in self.find_all(css).await? {
            values.extend(element.attr(name).await?);
        }
        Ok(values)
    }

    /// The ids of the reviews the reviews tile shows, in page order.
    pub async fn review_ids(&self) -> anyhow::Result<Vec<String>> {
        self.attrs(
            "[data-testid=tile-reviews] [data-review-id]",
            "data-review-id",
        )
        .await
    }

    /// The ids of the orders the account page shows, in page order.
    pub async fn order_ids(&self) -> anyhow::Result<Vec<String>> {
        self.attrs("[data-testid=tile-orders] [data-order-id]", "data-order-id")
            .await
    }

    /// What the page keeps where scripts can read it: every `localStorage` and
    /// `sessionStorage` entry as `key=value`, and `document.cookie`.
    pub async fn script_storage(&self) -> anyhow::Result<(Vec<String>, String)> {
        let read = self
            .client
            .execute(
                "const all = (s) => Object.keys(s).map((k) => k + '=' + s.getItem(k)); \
                 return [all(localStorage).concat(all(sessionStorage)), document.cookie]",
                vec![],
            )
            .await?;
        let entries = read[0]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok((entries, read[1].as_str().unwrap_or_default().to_owned()))
    }

    /// The product ids of the grid's cards, in page order.
    pub async fn card_ids(&self) -> anyhow::Result<Vec<String>> {
        self.attrs("[data-testid=card]", "data-product-id").await
    }
}
