//! Benchmark: what the vault key pattern costs. (1) A data service checking a shopper's token on
//! its own — an Ed25519 JWT verified with the BFF's public key — against the peer most systems
//! use: a call back per request to an identity endpoint over HTTP (token introspection, here a
//! loopback axum endpoint looking the token up in memory, as fast as such a call gets). (2) The
//! product view's p50 signed in (its `purchases` part fetched with a token, the view never kept
//! rendered) against anonymous (the part `unauthorized`, no call, the view rendered).
//!
//! Run: `cargo run --profile server -p tessera-bff --example identity_bench`
//! It rewrites the `identity` section of docs/BENCHMARKS.md.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};
use tessera_bff::config::{Config, Source};
use tessera_contract::keys::{self, Claims, SigningKey, Verifier};
use tessera_services::Scale;
use tessera_services::demo::Demo;
use tessera_testkit::bench::{machine, ms, percentile, write_section};

/// The same allocator as the `tessera-bff` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VERIFICATIONS: usize = 20_000;
const VIEWS: usize = 2_000;

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // (1) Verifying at the service, against calling back.
    let key = SigningKey::generate("bench-1")?;
    let mut verifier = Verifier::new();
    verifier.insert_pem(key.kid(), &key.public_pem())?;
    let now = keys::now_s();
    let token = key.token(&Claims {
        sub: "1".into(),
        name: "Alice Archer".into(),
        aud: "accounts".into(),
        iss: keys::ISSUER.into(),
        iat: now,
        exp: now + 30,
    });
    let mut local = Vec::with_capacity(VERIFICATIONS);
    for _ in 0..VERIFICATIONS {
        let started = Instant::now();
        let claims = verifier.token(&token, "accounts", keys::now_s())?;
        local.push(started.elapsed());
        std::hint::black_box(claims);
    }

    let sessions: Arc<HashMap<String, Value>> = Arc::new(HashMap::from([(
        token.clone(),
        json!({"active": true, "sub": "1", "aud": "accounts"}),
    )]));
    let introspect = axum::Router::new().route(
        "/introspect",
        post(move |Json(body): Json<Value>| {
            let sessions = sessions.clone();
            async move {
                let token = body["token"].as_str().unwrap_or_default();
                Json(
                    sessions
                        .get(token)
                        .cloned()
                        .unwrap_or(json!({"active": false})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}/introspect", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, introspect).await });
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let mut remote = Vec::with_capacity(VERIFICATIONS);
    for _ in 0..VERIFICATIONS {
        let started = Instant::now();
        let answer: Value = client
            .post(&endpoint)
            .json(&json!({ "token": token }))
            .send()
            .await?
            .json()
            .await?;
        remote.push(started.elapsed());
        anyhow::ensure!(answer["active"] == true, "{answer}");
    }

    // (2) The product view, signed in and anonymous.
    let dir = tempfile::tempdir()?;
    let demo = Demo::start(dir.path(), Scale::SMALL).await?;
    let mut config = Config::parse(&Source::builtin()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    config.override_upstreams(demo.upstreams());
    config.server.dist_dir = "/nonexistent".into();
    config.override_keys_dir(demo.keys_dir());
    let bff = tessera_bff::spawn(&config).await?;
    let signed_in = client
        .post(format!("http://{bff}/api/session"))
        .json(&json!({"user": "alice", "password": "tessera"}))
        .send()
        .await?;
    anyhow::ensure!(signed_in.status() == 200, "sign-in: {}", signed_in.status());
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let url = format!("http://{bff}/api/views/product/1");
    let time_views = async |cookie: Option<&str>| -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(VIEWS);
        for n in 0..VIEWS + 100 {
            let mut request = client.get(&url);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let started = Instant::now();
            let response = request.send().await?;
            anyhow::ensure!(response.status() == 200, "{url}: {}", response.status());
            let body: Value = response.json().await?;
            let expected = if cookie.is_some() {
                "ok"
            } else {
                "unauthorized"
            };
            anyhow::ensure!(body["parts"]["purchases"]["status"] == expected, "{body}");
            // The first hundred warm the caches up.
            if n >= 100 {
                times.push(started.elapsed());
            }
        }
        Ok(times)
    };
    let anonymous = time_views(None).await?;
    let personal = time_views(Some(&cookie)).await?;

    let p50 = |t: &[Duration]| percentile(t, 50.0);
    let body = format!(
        "## Vault keys (issue 15)

**Checking a shopper's token at the service.** {VERIFICATIONS} checks of one EdDSA JWT
(`tessera_contract::keys::Verifier::token`: Ed25519 signature, issuer, audience, expiry,
lifetime) against the same number of calls back to an identity endpoint over loopback HTTP
(keep-alive; the endpoint looks the token up in memory, so this is the floor of such a call).

| check | p50 | p99 |
| --- | --- | --- |
| verify the token with the BFF's public key | {} | {} |
| call back to an introspection endpoint (peer) | {} | {} |

p50 ratio (call back / verify): {:.1}×.

**The product view, signed in and anonymous.** {VIEWS} requests each, one at a time, after a
hundred to warm up, over the demo services. Signed in, the `purchases` part is fetched from the
accounts service with a token signed per call, and the view is composed every time (never kept
rendered); anonymous, the part is `unauthorized` with no call and the view is rendered.

| product view | p50 | p99 |
| --- | --- | --- |
| anonymous (peer) | {} | {} |
| signed in as alice | {} | {} |

p50 ratio (signed in / anonymous): {:.2}.

Machine: {}.
Reproduce: `cargo run --profile server -p tessera-bff --example identity_bench`",
        us(p50(&local)),
        us(percentile(&local, 99.0)),
        us(p50(&remote)),
        us(percentile(&remote, 99.0)),
        p50(&remote).as_secs_f64() / p50(&local).as_secs_f64(),
        ms(p50(&anonymous)),
        ms(percentile(&anonymous, 99.0)),
        ms(p50(&personal)),
        ms(percentile(&personal, 99.0)),
        p50(&personal).as_secs_f64() / p50(&anonymous).as_secs_f64(),
        machine(),
    );
    println!("{body}");
    write_section("identity", &body)?;
    Ok(())
}
