//! Checks: waiting for the page to reach a state, for the test to assert on.

use std::time::{Duration, Instant};

use crate::{Browser, WAIT};

/// How often a check looks at the page again.
const POLL: Duration = Duration::from_millis(100);

impl Browser {
    /// Reads the page with `read` until `done` holds of what it read, or [`WAIT`] has passed,
    /// and returns the last reading either way, so the test's own assertion shows what the page
    /// had.
    pub async fn settle<T>(
        &self,
        mut read: impl AsyncFnMut(&Self) -> anyhow::Result<T>,
        done: impl Fn(&T) -> bool,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = read(self).await?;
            if done(&value) || Instant::now() >= deadline {
                return Ok(value);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Reads the page with `read` for `period`, and returns the first reading of which `ok`
    /// does not hold, or the last one: for "nothing else happens" checks, after the test has
    /// seen (or made sure of) the moment the unwanted thing would have happened by.
    pub async fn holds<T>(
        &self,
        period: Duration,
        mut read: impl AsyncFnMut(&Self) -> anyhow::Result<T>,
        ok: impl Fn(&T) -> bool,
    ) -> anyhow::Result<T> {
        let until = Instant::now() + period;
        loop {
            let value = read(self).await?;
            if !ok(&value) || Instant::now() >= until {
                return Ok(value);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the first element matching `css` reads `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) -> anyhow::Result<()> {
        let now = async |browser: &Self| -> anyhow::Result<Option<String>> {
            Ok(match browser.find(css).await {
                Ok(element) => Some(element.text().await.unwrap_or_default()),
                Err(_) => None,
            })
        };
        let last = self
            .settle(now, |text| text.as_deref() == Some(expected))
            .await?;
        match last {
            Some(text) if text == expected => Ok(()),
            last => anyhow::bail!("{css} reads {last:?}, not {expected:?}"),
        }
    }
}
