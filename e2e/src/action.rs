//! Actions: what a shopper does on the page.

use crate::Browser;

impl Browser {
    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        Ok(self.client.goto(url).await?)
    }

    /// Clicks the first element matching `css` (which must be on the page already).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        Ok(self.find(css).await?.click().await?)
    }

    /// Types `text` into the first field matching `css` (which must be on the page already).
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        Ok(self.find(css).await?.send_keys(text).await?)
    }
}
