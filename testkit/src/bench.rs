//! Benchmark plumbing: percentiles, and writing a result section into `docs/BENCHMARKS.md`
//! between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers, so each benchmark owns its
//! section and re-running it replaces the old figures.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `p`-th percentile (0–100) of `samples`, nearest-rank.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    assert!(!samples.is_empty(), "percentile of no samples");
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// CPU time this process has used so far (user and system, all threads), from
/// `/proc/self/stat`: a benchmark that runs its servers in-process divides it by the requests
/// served ([`Wrk::cpu_per_request_us`]).
fn own_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("no command name in /proc/self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let field = |index: usize| -> anyhow::Result<u64> {
        let text = fields
            .get(index)
            .ok_or_else(|| anyhow::anyhow!("/proc/self/stat has no field {}", index + 3))?;
        Ok(text.parse()?)
    };
    let ticks = field(11)? + field(12)?;
    Ok(Duration::from_millis(ticks * 10))
}

/// A line describing this machine: CPU model, cores, memory, OS and date.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|r| {
            r.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.into());
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB, {os}, {date}")
}

/// The repository's `docs/BENCHMARKS.md`.
pub fn benchmarks_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/BENCHMARKS.md")
}

/// Replaces (or appends) the section `name` of the benchmarks file with `body`.
pub fn write_section(name: &str, body: &str) -> std::io::Result<()> {
    let path = benchmarks_file();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    std::fs::write(&path, replace_section(&text, name, body))
}

fn replace_section(text: &str, name: &str, body: &str) -> String {
    let open = format!("<!-- bench:{name} -->");
    let close = format!("<!-- /bench:{name} -->");
    let section = format!("{open}\n{}\n{close}", body.trim_end());
    match (text.find(&open), text.find(&close)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{section}{}", &text[..start], &text[end + close.len()..])
        }
        _ => format!("{}\n\n{section}\n", text.trim_end()),
    }
}

/// What `wrk` measured.
#[derive(Debug, Clone)]
pub struct Wrk {
    pub rps: f64,
    pub p50: String,
    pub p99: String,
    /// Requests completed in the run.
    pub requests: u64,
    /// CPU time this process spent during the run ([`own_cpu`]): the server's own, for a
    /// benchmark that runs it in-process.
    pub cpu: Duration,
}

impl Wrk {
    /// This process's CPU time per request served, in microseconds.
    pub fn cpu_per_request_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }
}

/// The load every HTTP benchmark here applies: 2 threads, 32 connections, 10 s.
pub const WRK_ARGS: [&str; 6] = ["-t2", "-c32", "-d10s", "--latency", "--timeout", "5s"];

/// Runs `wrk` against `url` with extra request headers, and reads requests/s and the latency
/// percentiles from its report. Fails if any response was not 2xx/3xx.
pub fn wrk(url: &str, headers: &[&str]) -> anyhow::Result<Wrk> {
    use anyhow::Context;
    let mut command = std::process::Command::new("wrk");
    command.args(WRK_ARGS);
    for header in headers {
        command.arg("-H").arg(header);
    }
    let before = own_cpu()?;
    let output = command
        .arg(url)
        .output()
        .context("running wrk (scripts/setup.sh installs it)")?;
    let cpu = own_cpu()?.saturating_sub(before);
    let text = String::from_utf8_lossy(&output.stdout);
    eprintln!("{url}\n{text}");
    anyhow::ensure!(
        !text.contains("Non-2xx"),
        "{url} answered errors under load:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("no {prefix:?} in wrk's report:\n{text}"))
    };
    // "  123456 requests in 10.00s, 12.34MB read"
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no request count in wrk's report:\n{text}"))?;
    Ok(Wrk {
        rps: field("Requests/sec:")?.parse()?,
        p50: field("50%")?,
        p99: field("99%")?,
        requests,
        cpu,
    })
}

/// Loads each of `urls` in turn, `rounds` times over, so a machine that slows down for a while
/// slows every contender alike; returns each URL's runs in order.
pub fn wrk_alternating(urls: &[(&str, &[&str])], rounds: usize) -> anyhow::Result<Vec<Vec<Wrk>>> {
    let mut runs = vec![Vec::with_capacity(rounds); urls.len()];
    for _ in 0..rounds {
        for ((url, headers), runs) in urls.iter().zip(&mut runs) {
            runs.push(wrk(url, headers)?);
        }
    }
    Ok(runs)
}

/// Each round's ratio of `ours` to `peer` (requests/s), as `0.80, 0.74, 0.81`.
pub fn round_ratios(ours: &[Wrk], peer: &[Wrk]) -> String {
    ours.iter()
        .zip(peer)
        .map(|(ours, peer)| format!("{:.2}", ours.rps / peer.rps))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The run with the median requests/s (the upper one of an even count).
pub fn median(runs: &[Wrk]) -> Wrk {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    sorted[sorted.len() / 2].clone()
}

/// A server child process (nginx, static-web-server) on a free port, stopped on drop.
pub struct Peer {
    child: std::process::Child,
    pub port: u16,
    _scratch: tempfile::TempDir,
}

impl Peer {
    /// A free loopback port.
    pub fn free_port() -> std::io::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    }

    /// nginx with 2 workers and no access log, serving `root` with `locations` (nginx syntax)
    /// inside its server block.
    pub fn nginx(root: &Path, locations: &str) -> anyhow::Result<Self> {
        let port = Self::free_port()?;
        let scratch = tempfile::tempdir()?;
        let prefix = scratch.path().display();
        let conf = format!(
            "worker_processes 2;\nerror_log stderr error;\npid {prefix}/nginx.pid;\ndaemon off;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  include /etc/nginx/mime.types;\n  \
             client_body_temp_path {prefix}; proxy_temp_path {prefix}; fastcgi_temp_path {prefix};\n  \
             uwsgi_temp_path {prefix}; scgi_temp_path {prefix};\n  \
             server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    {locations}\n  }}\n}}\n",
            root = root.display(),
        );
        Self::start_nginx(scratch, &conf, port, std::process::Stdio::inherit())
    }

    /// nginx as the cluster's balancer: the repository's `config/cluster/nginx.conf`, its
    /// replicas (between the `tessera:replicas` markers) and its port replaced.
    pub fn balancer(replicas: &[std::net::SocketAddr]) -> anyhow::Result<Self> {
        use anyhow::Context;
        let port = Self::free_port()?;
        let scratch = tempfile::tempdir()?;
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/cluster/nginx.conf"),
        )?;
        let (head, rest) = text
            .split_once("# tessera:replicas")
            .context("the balancer's file lost its replica markers")?;
        let (_, tail) = rest
            .split_once("# /tessera:replicas")
            .context("the balancer's file lost its replica markers")?;
        let servers: String = replicas
            .iter()
            .map(|addr| format!("        server {addr} max_fails=2 fail_timeout=5s;\n"))
            .collect();
        let conf = format!("{head}# tessera:replicas\n{servers}        # /tessera:replicas{tail}")
            .replace(
                "listen 127.0.0.1:8080;",
                &format!("listen 127.0.0.1:{port};"),
            );
        Self::start_nginx(scratch, &conf, port, std::process::Stdio::null())
    }

    /// nginx as a CDN in front of `site` (what `tessera-bff export` wrote): the repository's
    /// `config/cdn/nginx.conf`, its port replaced. After another export, [`Peer::reload`].
    pub fn cdn(site: &Path) -> anyhow::Result<Self> {
        let port = Self::free_port()?;
        let scratch = tempfile::tempdir()?;
        std::os::unix::fs::symlink(site, scratch.path().join("site"))?;
        let conf = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/cdn/nginx.conf"),
        )?
        .replace(
            "listen 127.0.0.1:8081;",
            &format!("listen 127.0.0.1:{port};"),
        );
        // Its errors shown: a refused delta table or header map is the thing to see.
        Self::start_nginx(scratch, &conf, port, std::process::Stdio::inherit())
    }

    /// nginx with the configuration `conf` (listening on `port`), its prefix and file in
    /// `scratch`; every nginx peer above starts here.
    fn start_nginx(
        scratch: tempfile::TempDir,
        conf: &str,
        port: u16,
        stderr: std::process::Stdio,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        anyhow::ensure!(conf.contains(&format!(":{port};")), "the listen line moved");
        let file = scratch.path().join("nginx.conf");
        std::fs::write(&file, conf)?;
        let child = std::process::Command::new("nginx")
            .arg("-p")
            .arg(scratch.path())
            .arg("-c")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting nginx (scripts/setup.sh installs nginx-light)")?;
        Ok(Self {
            child,
            port,
            _scratch: scratch,
        })
    }

    /// Has nginx read its configuration again (SIGHUP to its master), as a deploy does, and
    /// waits until the workers of the old configuration are gone: until then, one of them may
    /// still answer a kept-alive connection with the old build's headers for the new files.
    pub fn reload(&self) -> anyhow::Result<()> {
        let pid = self.child.id();
        let workers = || -> anyhow::Result<Vec<String>> {
            let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
            Ok(list.split_whitespace().map(str::to_owned).collect())
        };
        let old = workers()?;
        let status = std::process::Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -HUP {pid}: {status}");
        for _ in 0..250 {
            let now = workers()?;
            if !now.is_empty() && now.iter().all(|w| !old.contains(w)) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        anyhow::bail!("nginx's old workers did not stop within 5 s")
    }

    /// Any other server command, given its port.
    pub fn command(mut command: std::process::Command, port: u16) -> anyhow::Result<Self> {
        use anyhow::Context;
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {command:?}"))?;
        Ok(Self {
            child,
            port,
            _scratch: tempfile::tempdir()?,
        })
    }

    /// The server's process id (nginx: its master).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the port accepts connections.
    pub fn wait_ready(&self) -> anyhow::Result<()> {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        anyhow::bail!("nothing listens on port {}", self.port)
    }
}

impl Drop for Peer {
    /// Asks the server to stop (SIGTERM) and waits for it, so that nothing outlives the
    /// benchmark: killing nginx's master outright orphans its workers, which keep the port and
    /// the output pipe. Only a server that has not stopped after 5 s is killed.
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..250 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A binary of the workspace built with the same profile as the running example (cargo puts
/// examples in `<profile>/examples/`, binaries in `<profile>/`).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join(name))
        .ok_or_else(|| anyhow::anyhow!("no profile folder above the running example"))
}

/// Resident memory of a process and its direct children (nginx's master and workers), in
/// bytes, from `/proc`.
pub fn resident_bytes(pid: u32) -> u64 {
    let rss = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status.lines().find_map(|l| {
                    l.strip_prefix("VmRSS:")
                        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
                })
            })
            .map_or(0, |kb| kb * 1024)
    };
    let children: u64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    // The parent is the second field after the command's closing parenthesis.
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .map(rss)
        .sum();
    rss(pid) + children
}

/// The composite benchmark's view: three upstreams and a part that depends on the first.
pub fn composite_parts() -> [crate::config::Part; 4] {
    use crate::config::Part;
    [
        Part::new("product", "catalog", "/products/{id}", 1000).critical(),
        Part::new("stock", "inventory", "/products/{id}/stock", 1000).critical(),
        Part::new("reviews", "reviews", "/products/{id}/reviews", 1000),
        Part::new(
            "top",
            "catalog",
            "/categories/{product.category.slug}/top",
            1000,
        ),
    ]
}

/// Scripts the composite view's stubs (catalog, inventory, reviews) for product 1: the reviews
/// answer after `slowest`, the stock after half of it, the product and its category's top
/// after a quarter each (a chain that ends well before the slowest part).
pub fn composite_replies(stubs: &[crate::stub::Stub; 3], slowest: Duration) {
    use crate::stub::Reply;
    use serde_json::json;
    let product = json!({"id": 1, "name": "Stub product", "category": {"slug": "kitchen"},
        "description": "x".repeat(400)});
    stubs[0].on("/products/1", Reply::json(product).after(slowest / 4));
    stubs[0].on(
        "/categories/kitchen/top",
        Reply::json(json!({"items": [1, 2, 3, 4]})).after(slowest / 4),
    );
    stubs[1].on(
        "/products/1/stock",
        Reply::json(json!({"price_cents": 1999, "stock": 7})).after(slowest / 2),
    );
    let reviews = json!({"items": (0..5)
        .map(|i| json!({"id": i, "title": "Fine", "body": "y".repeat(300)}))
        .collect::<Vec<_>>()});
    stubs[2].on("/products/1/reviews", Reply::json(reviews).after(slowest));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_in_place_or_appended() {
        let first = replace_section("# B\n\ntail\n", "x", "one");
        assert_eq!(
            first,
            "# B\n\ntail\n\n<!-- bench:x -->\none\n<!-- /bench:x -->\n"
        );
        let second = replace_section(&first, "x", "two\n");
        assert_eq!(
            second,
            "# B\n\ntail\n\n<!-- bench:x -->\ntwo\n<!-- /bench:x -->\n"
        );
    }

    #[test]
    fn a_stopped_nginx_leaves_nothing_listening() {
        let root = tempfile::tempdir().unwrap();
        let nginx = Peer::nginx(root.path(), "").unwrap();
        nginx.wait_ready().unwrap();
        let port = nginx.port;
        drop(nginx);
        // Its workers are gone too: none of them holds the port any more.
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "something still listens on {port}"
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
    }
}
