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

    /// Types `text` into the first field matching `css`, waiting for it to appear (a page just
    /// opened may not have mounted its app yet).
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        Ok(self.wait_for(css).await?.send_keys(text).await?)
    }

    /// Signs in with the header's form, once it is there (nobody signed in). It does not wait
    /// for the answer: a test waits for the name, or the form's error, as it expects.
    pub async fn sign_in(&self, user: &str, password: &str) -> anyhow::Result<()> {
        let field = self.wait_for("[data-testid=signin-user]").await?;
        field.clear().await?;
        field.send_keys(user).await?;
        self.type_into("[data-testid=signin-password]", password)
            .await?;
        self.click("[data-testid=signin-submit]").await
    }

    /// Signs out with the header's button, and waits for the sign-in form to be back.
    pub async fn sign_out(&self) -> anyhow::Result<()> {
        self.wait_for("[data-testid=signout]")
            .await?
            .click()
            .await?;
        self.wait_for("[data-testid=signin-user]").await?;
        Ok(())
    }
}
