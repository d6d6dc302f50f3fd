//! Version skew (issue 17): a page opened on one build keeps working while the shop moves on
//! to the next, and is offered the new one. The next build is made the way a deploy makes it —
//! `fingerprint` writing a changed Trunk output into the served folder — and the BFF serves it
//! as soon as its manifest lands.

use std::path::Path;
use std::time::Duration;

use tessera_bff::assets::fingerprint::{MANIFEST, Manifest, fingerprint};
use tessera_e2e::{Stack, dist_dir};

const NAME: &str = "[data-testid=tile-product][data-status=ok] [data-testid=product-name]";
const NOTICE: &str = "[data-testid=new-version]";

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn manifest(site: &Path) -> anyhow::Result<Manifest> {
    Ok(serde_json::from_slice(&std::fs::read(
        site.join(MANIFEST),
    )?)?)
}

/// The Trunk output `site`'s build was made from, with one small change to its style.
fn next_trunk_output(site: &Path, out: &Path) -> anyhow::Result<()> {
    let manifest = manifest(site)?;
    let mut index = std::fs::read_to_string(site.join("index.html"))?;
    for (original, hashed) in &manifest.files {
        let target = out.join(original);
        std::fs::create_dir_all(target.parent().expect("under out"))?;
        std::fs::copy(site.join(hashed), &target)?;
        index = index.replace(&format!("/{hashed}"), &format!("/{original}"));
    }
    std::fs::write(out.join("index.html"), index)?;
    let css = out.join("style.css");
    let mut style = std::fs::read_to_string(&css)?;
    style.push_str("\n/* the next build */\n");
    std::fs::write(css, style)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_the_old_build_keeps_working_and_is_offered_the_new_one() -> anyhow::Result<()> {
    let site = tempfile::tempdir()?;
    copy_dir(&dist_dir(), site.path())?;
    let old = manifest(site.path())?;
    let stack = Stack::start_with(|config| config.server.dist_dir = site.path().to_owned()).await?;
    let build_of = async |path: &str| -> anyhow::Result<Option<String>> {
        let response = reqwest::get(stack.url(path)).await?;
        Ok(response
            .headers()
            .get("tessera-build")
            .map(|v| v.to_str().unwrap_or_default().to_owned()))
    };
    assert_eq!(
        build_of("/api/views/product/2").await?,
        Some(old.build.clone())
    );

    stack
        .browse("/product/1", async |browser| {
            browser.wait_for(NAME).await?;
            assert!(browser.find_all(NOTICE).await?.is_empty(), "no notice on the build served");

            // A deploy: the next build fingerprinted into the served folder.
            let staging = tempfile::tempdir()?;
            next_trunk_output(site.path(), staging.path())?;
            let new = fingerprint(staging.path(), site.path())?;
            assert_eq!(Manifest::number(&new.build), Manifest::number(&old.build) + 1);
            let mut served = None;
            for _ in 0..100 {
                served = build_of("/api/views/product/2").await?;
                if served.as_deref() == Some(new.build.as_str()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(served, Some(new.build.clone()), "the BFF serves the new build");
            // The old page's files are still served, for pages opened on it.
            for file in old.files.values() {
                let status = reqwest::get(stack.url(&format!("/{file}"))).await?.status();
                assert_eq!(status, 200, "{file}");
            }

            // The old page asks for its next view: it works, and the notice appears.
            let link = "[data-testid=tile-recommendations] a[href^='/product/']";
            browser.wait_for(link).await?;
            browser.click(link).await?;
            browser.wait_for(NOTICE).await?;
            browser.wait_for(NAME).await?;
            let text = browser.text_of(NOTICE).await?;
            assert!(text.contains("A new version"), "{text}");
            if let Some(dir) = std::env::var_os("TESSERA_SCREENSHOT_DIR") {
                let png = browser.client.screenshot().await?;
                std::fs::write(Path::new(&dir).join("new-version.png"), png)?;
            }

            // Reloading loads the new build, which the shop serves: no notice then.
            browser.click(&format!("{NOTICE} button")).await?;
            browser
                .settle(
                    async |browser| {
                        Ok(browser
                            .client
                            .execute(
                                "return document.querySelector('meta[name=tessera-build]')?.content",
                                vec![],
                            )
                            .await?)
                    },
                    |build| build.as_str() == Some(new.build.as_str()),
                )
                .await?;
            browser.wait_for(NAME).await?;
            assert!(browser.find_all(NOTICE).await?.is_empty(), "the new page is the new build");
            Ok(())
        })
        .await
}
