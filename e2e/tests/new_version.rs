//! Version skew (issue 17): a page opened on one build keeps working while the shop moves on
//! to the next, and is offered the new one. The next build is made the way a deploy makes it —
//! `fingerprint` writing a changed Trunk output into the served folder — and the BFF serves it
//! as soon as its manifest lands.

use std::path::Path;
use std::time::Duration;

use tessera_bff::assets::delta::delta_name;
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

/// The Trunk output `site`'s build was made from, with `change` made to it.
fn next_trunk_output(
    site: &Path,
    out: &Path,
    change: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let manifest = manifest(site)?;
    let mut index = std::fs::read_to_string(site.join("index.html"))?;
    for (original, hashed) in &manifest.files {
        let target = out.join(original);
        std::fs::create_dir_all(target.parent().expect("under out"))?;
        std::fs::copy(site.join(hashed), &target)?;
        index = index.replace(&format!("/{hashed}"), &format!("/{original}"));
    }
    std::fs::write(out.join("index.html"), index)?;
    change(out)
}

/// A change to the style alone.
fn restyle(out: &Path) -> anyhow::Result<()> {
    let css = out.join("style.css");
    let mut style = std::fs::read_to_string(&css)?;
    style.push_str("\n/* the next build */\n");
    std::fs::write(css, style)?;
    Ok(())
}

/// Where the page shows its footer.
const FOOTER_AT: &str = ".site-footer";

/// The footer's words, in the wasm's data.
const FOOTER: &[u8] = b"from independent services.";
const NEW_FOOTER: &[u8] = b"from Independent services.";

/// A small change to the app itself: a word of its footer, patched in the wasm's data (the
/// same length, so the module stays valid), as a one-line change and a rebuild would make it.
fn reword_footer(out: &Path) -> anyhow::Result<()> {
    let path = out.join("tessera-frontend_bg.wasm");
    let mut wasm = std::fs::read(&path)?;
    let at = wasm
        .windows(FOOTER.len())
        .position(|w| w == FOOTER)
        .ok_or_else(|| anyhow::anyhow!("the footer's words are not in the wasm"))?;
    wasm[at..at + FOOTER.len()].copy_from_slice(NEW_FOOTER);
    std::fs::write(path, wasm)?;
    Ok(())
}

/// A copy of the test build, its manifest, and a stack serving it (so deploys into it touch
/// no other test's build).
async fn served_copy() -> anyhow::Result<(tempfile::TempDir, Manifest, Stack)> {
    let site = tempfile::tempdir()?;
    copy_dir(&dist_dir(), site.path())?;
    let old = manifest(site.path())?;
    let dist = site.path().to_owned();
    let stack = Stack::start_with(|config| config.server.dist_dir = dist).await?;
    Ok((site, old, stack))
}

/// Deploys the next build into `site` and waits until `stack` serves it.
async fn deploy(
    stack: &Stack,
    site: &Path,
    change: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<Manifest> {
    let staging = tempfile::tempdir()?;
    next_trunk_output(site, staging.path(), change)?;
    let new = fingerprint(staging.path(), site)?;
    for _ in 0..100 {
        let response = reqwest::get(stack.url("/api/views/product/2")).await?;
        if response
            .headers()
            .get("tessera-build")
            .and_then(|v| v.to_str().ok())
            == Some(new.build.as_str())
        {
            return Ok(new);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the BFF never served build {}", new.build)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_the_old_build_keeps_working_and_is_offered_the_new_one() -> anyhow::Result<()> {
    let (site, old, stack) = served_copy().await?;
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
            let new = deploy(&stack, site.path(), restyle).await?;
            assert_eq!(Manifest::number(&new.build), Manifest::number(&old.build) + 1);
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

/// A browser that holds a build's wasm gets the next build's as a `dcz` delta against it: a
/// small fraction of the full brotli file, and the page works on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_builds_wasm_comes_as_a_small_delta_and_works() -> anyhow::Result<()> {
    let (site, old, stack) = served_copy().await?;
    stack
        .browse("/", async |browser| {
            let text = browser.text_of(FOOTER_AT).await?;
            assert!(text.contains("independent services"), "{text}");
            // The old wasm is kept by the browser as a dictionary once it was fully read.
            tokio::time::sleep(Duration::from_millis(500)).await;

            let new = deploy(&stack, site.path(), reword_footer).await?;
            let wasm = &new.files["tessera-frontend_bg.wasm"];
            assert_ne!(wasm, &old.files["tessera-frontend_bg.wasm"]);
            let brotli = std::fs::metadata(site.path().join(format!("{wasm}.br")))?.len();
            // The delta against the wasm this browser holds.
            let held = std::fs::read(site.path().join(&old.files["tessera-frontend_bg.wasm"]))?;
            let delta = std::fs::metadata(site.path().join(delta_name(wasm, &held)))?.len();

            loads_the_new_wasm_as_its_delta(browser, &stack.url("/"), wasm, delta, brotli).await
        })
        .await
}

/// Opens `page` on the next build (its footer reworded) and checks that its `wasm` arrived as
/// the `delta` (its size), at most a tenth of the `brotli` file.
async fn loads_the_new_wasm_as_its_delta(
    browser: &tessera_e2e::Browser,
    page: &str,
    wasm: &str,
    delta: u64,
    brotli: u64,
) -> anyhow::Result<()> {
    browser.goto(page).await?;
    browser
        .settle(
            async |browser| Ok(browser.text_of(FOOTER_AT).await?),
            |text| text.contains("Independent services"),
        )
        .await?;
    let transferred = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource') \
               .filter((e) => e.name.endsWith(arguments[0])) \
               .map((e) => e.encodedBodySize)[0] ?? null",
            vec![serde_json::json!(wasm)],
        )
        .await?
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("the new wasm was not loaded"))?;
    assert_eq!(
        transferred, delta,
        "the wasm came as its delta ({brotli} B as brotli)"
    );
    let ratio = transferred as f64 / brotli as f64;
    println!("{page}: the new wasm {transferred} B as dcz, {brotli} B as brotli: {ratio:.4}");
    assert!(ratio <= 0.1, "{ratio}");
    Ok(())
}

/// The same from a CDN: nginx serving the site as `tessera-bff export` writes it, with the
/// repository's `config/cdn/nginx.conf`. After the next build's export and a reload, a browser
/// holding the earlier wasm gets the new one as the delta the export wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_site_serves_the_next_builds_wasm_as_a_delta_through_nginx()
-> anyhow::Result<()> {
    use tessera_bff::assets::cdn::export;
    let site = tempfile::tempdir()?;
    copy_dir(&dist_dir(), site.path())?;
    let old = manifest(site.path())?;
    let cdn = tempfile::tempdir()?;
    let routes = Default::default();
    export(site.path(), cdn.path(), None, &routes)?;
    let nginx = tessera_testkit::bench::Peer::cdn(cdn.path())?;
    nginx.wait_ready()?;
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", nginx.port);
    tessera_e2e::with_browser(async |browser| {
        browser.goto(&url("/")).await?;
        let text = browser.text_of(FOOTER_AT).await?;
        assert!(text.contains("independent services"), "{text}");
        // The old wasm is kept by the browser as a dictionary once it was fully read.
        tokio::time::sleep(Duration::from_millis(500)).await;

        // The next build, fingerprinted beside the kept one, exported, and nginx reloaded.
        let staging = tempfile::tempdir()?;
        next_trunk_output(site.path(), staging.path(), reword_footer)?;
        let new = fingerprint(staging.path(), site.path())?;
        export(site.path(), cdn.path(), None, &routes)?;
        nginx.reload()?;
        let wasm = &new.files["tessera-frontend_bg.wasm"];
        let mut served = false;
        for _ in 0..100 {
            let page = reqwest::get(url("/")).await?.text().await?;
            if page.contains(wasm.as_str()) {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(served, "nginx never served build {}", new.build);
        let held = std::fs::read(site.path().join(&old.files["tessera-frontend_bg.wasm"]))?;
        let delta = std::fs::metadata(cdn.path().join(delta_name(wasm, &held)))?.len();
        let brotli = std::fs::metadata(cdn.path().join(format!("{wasm}.br")))?.len();
        // Not an address of its own: only an answer to the wasm's.
        let direct = reqwest::get(url(&format!("/{}", delta_name(wasm, &held)))).await?;
        assert_eq!(direct.status(), 404);

        // The export's manifest names the `Available-Dictionary` that picks the delta; a
        // browser that refuses `dcz` (`q=0`) gets the file itself.
        let listing: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cdn.path().join("cdn-manifest.json"))?)?;
        let held_delta = format!("/{}", delta_name(wasm, &held));
        let available = listing
            .as_array()
            .and_then(|files| files.iter().find(|f| f["path"] == format!("/{wasm}")))
            .and_then(|f| {
                let deltas = f["deltas"].as_object()?;
                deltas
                    .iter()
                    .find(|(_, path)| **path == held_delta)
                    .map(|(available, _)| available.clone())
            })
            .ok_or_else(|| anyhow::anyhow!("no delta {held_delta} in {listing}"))?;
        let client = reqwest::Client::new();
        let ask = async |accept: &str| {
            client
                .get(url(&format!("/{wasm}")))
                .header("accept-encoding", accept)
                .header("available-dictionary", &available)
                .send()
                .await
        };
        let answer = ask("gzip, br, dcz").await?;
        assert_eq!(answer.headers()["content-encoding"], "dcz");
        assert_eq!(answer.bytes().await?.len() as u64, delta);
        let answer = ask("gzip, dcz;q=0").await?;
        assert_ne!(
            answer
                .headers()
                .get("content-encoding")
                .map(|v| v.as_bytes()),
            Some(&b"dcz"[..])
        );
        // A hashed file that is not there is no year-long 404 for a CDN in front.
        let missing =
            reqwest::get(url("/assets/tessera-frontend_bg-0123456789abcdef.wasm")).await?;
        assert_eq!(missing.status(), 404);
        let cache = missing.headers().get("cache-control");
        assert!(
            cache.is_none_or(|c| !c.to_str().unwrap_or_default().contains("immutable")),
            "{cache:?}"
        );

        loads_the_new_wasm_as_its_delta(browser, &url("/"), wasm, delta, brotli).await
    })
    .await
}
