//! Benchmark: the BFF's static hosting against nginx and static-web-server serving the same
//! files: the hashed wasm and `index.html`, brotli-encoded, under `wrk` load on one machine.
//!
//! Run (after `./scripts/build-frontend.sh`, which writes `dist/`):
//! `cargo run --profile server -p tessera-bff --example static_bench [dist]`
//! Needs `wrk` and `nginx` (scripts/setup.sh); `static-web-server` is measured too when
//! installed (`scripts/bench.sh` installs it). Rewrites the `static` section of
//! docs/BENCHMARKS.md.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail, ensure};
use tessera_bff::config::{Config, Source};
use tessera_testkit::bench::{Peer, WRK_ARGS, Wrk, machine, write_section, wrk};

/// The same allocator as the `tessera-bff` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BR: &str = "Accept-Encoding: br";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let source = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "dist".into()));
    // A world-readable copy: nginx's workers drop privileges and may not read the original.
    let copy = tempfile::tempdir()?;
    let dist = copy.path().join("site");
    copy_tree(&source, &dist).with_context(|| {
        format!(
            "no build at {} (run scripts/build-frontend.sh)",
            source.display()
        )
    })?;
    set_mode(copy.path(), 0o755)?;
    let wasm = std::fs::read_dir(dist.join("assets"))
        .with_context(|| {
            format!(
                "no build at {} (run scripts/build-frontend.sh)",
                dist.display()
            )
        })?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wasm"))
        .max_by_key(|name| {
            std::fs::metadata(dist.join("assets").join(name))
                .and_then(|m| m.modified())
                .ok()
        })
        .context("the build has no .wasm")?;
    let wasm_br = std::fs::read(dist.join(format!("assets/{wasm}.br")))?;
    let index_br = std::fs::read(dist.join("index.html.br"))?;

    let mut config = Config::parse(&Source::builtin()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    config.server.dist_dir = dist.clone();
    // Without routes the BFF's `/` is the build's index.html itself, the bytes nginx serves
    // (a route's page carries its own start script).
    config.routes.clear();
    let bff = tessera_bff::spawn(&config).await?;

    // nginx has no brotli module in Debian: it serves the .br files by name (same bytes).
    let nginx = Peer::nginx(&dist, "location / { }")?;
    // static-web-server is optional (`cargo install static-web-server --locked`): without
    // it the table compares with nginx only.
    let sws_port = Peer::free_port()?;
    let mut sws = Command::new("static-web-server");
    sws.args(["--host", "127.0.0.1", "--port", &sws_port.to_string()])
        .arg("--root")
        .arg(&dist)
        .args(["--compression-static", "true", "--log-level", "error"]);
    let sws = match Peer::command(sws, sws_port) {
        Ok(sws) => Some(sws),
        Err(e) => {
            eprintln!("static-web-server not measured: {e:#}");
            None
        }
    };
    nginx.wait_ready()?;
    if let Some(sws) = &sws {
        sws.wait_ready()?;
    }

    let client = reqwest::Client::new();
    let servers = |nginx_path: String, sws_path: String, bff_path: String| {
        let mut servers = vec![(
            "nginx",
            format!("http://127.0.0.1:{}{nginx_path}", nginx.port),
        )];
        if sws.is_some() {
            servers.push((
                "static-web-server",
                format!("http://127.0.0.1:{sws_port}{sws_path}"),
            ));
        }
        servers.push(("Tessera BFF", format!("http://{bff}{bff_path}")));
        servers
    };
    let cases = [
        (
            "wasm",
            &wasm_br,
            servers(
                format!("/assets/{wasm}.br"),
                format!("/assets/{wasm}"),
                format!("/assets/{wasm}"),
            ),
        ),
        (
            "index.html",
            &index_br,
            servers("/index.html.br".into(), "/index.html".into(), "/".into()),
        ),
    ];
    let mut rows = Vec::new();
    for (what, bytes, servers) in &cases {
        let mut results: Vec<(&str, Wrk)> = Vec::new();
        for (server, url) in servers {
            let body = client
                .get(url)
                .header("accept-encoding", "br")
                .send()
                .await?
                .bytes()
                .await?;
            ensure!(
                body[..] == bytes[..],
                "{server} does not serve the same bytes for {what}"
            );
            let url = url.clone();
            let result = tokio::task::spawn_blocking(move || wrk(&url, &[BR])).await??;
            results.push((server, result));
        }
        let nginx_rps = results[0].1.rps;
        let sws_rps = results
            .iter()
            .find(|(server, _)| *server == "static-web-server")
            .map(|(_, r)| r.rps);
        for (server, r) in &results {
            let to_sws =
                sws_rps.map_or_else(|| "—".to_owned(), |sws| format!("{:.2}", r.rps / sws));
            rows.push(format!(
                "| {what} ({} B br) | {server} | {:.0} | {} | {} | {:.2} | {to_sws} |",
                bytes.len(),
                r.rps,
                r.p50,
                r.p99,
                r.rps / nginx_rps,
            ));
        }
    }
    if rows.is_empty() {
        bail!("nothing measured");
    }
    let report = format!(
        "## Static hosting vs nginx and static-web-server (issue 6)

`wrk {args} -H '{BR}'` against each server in turn, all on one machine (servers and wrk share
its cores). The same release build and the same brotli bytes: nginx 1.22 (2 workers, no access
log; Debian's build has no brotli module, so it serves the `.br` files by name),
static-web-server with `--compression-static` (when installed: {sws_note}), and the BFF
serving from memory.

| file | server | requests/s | p50 | p99 | ÷ nginx | ÷ static-web-server |
| --- | --- | --- | --- | --- | --- | --- |
{}

Goal: the BFF at least 0.8 of nginx and at least 1.0 of static-web-server.

Machine: {}.
Reproduce: `./scripts/build-frontend.sh && cargo run --profile server -p tessera-bff --example static_bench dist`",
        rows.join("\n"),
        machine(),
        args = WRK_ARGS.join(" "),
        sws_note = if sws.is_some() {
            "it was"
        } else {
            "it was not, this run"
        },
    );
    println!("{report}");
    write_section("static", &report)?;
    Ok(())
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    set_mode(to, 0o755)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            set_mode(&target, 0o644)?;
        }
    }
    Ok(())
}

fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
