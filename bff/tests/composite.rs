//! Composite-view execution against stub upstreams with set latencies and failures: concurrency,
//! dependencies, deadlines, statuses, streaming order, cancellation, `?parts=`, the budget
//! header and conditional requests. The stubs record when each request started, was answered,
//! or was abandoned by the BFF.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::{config_from, start_bff};
use tessera_contract::{PartOutcome, PartStatus, StreamLine, ViewEnvelope};
use tessera_testkit::config::{BffConfig, Part};
use tessera_testkit::http::{assert_not_modified, get_json, get_text, get_with};
use tessera_testkit::stub::{EventKind, Reply, Stub};
use tokio::time::Instant;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// A view `v` over two stubs: `fast`, `medium` and `slow` are independent; `dependent` reads
/// `fast`'s data; only `fast` is critical.
fn view_config(a: &Stub, b: &Stub, slow_timeout_ms: u64) -> String {
    BffConfig::new()
        .upstream("a", &a.url())
        .upstream("b", &b.url())
        .view_with(
            "v",
            "budget_ms = 3000",
            [
                Part::new("fast", "a", "/fast/{id}", 2000).critical(),
                Part::new("medium", "a", "/medium/{id}", 2000),
                Part::new("slow", "b", "/slow/{id}", slow_timeout_ms),
                Part::new("dependent", "b", "/dep/{fast.next.key}", 2000),
            ],
        )
        .toml()
}

struct Setup {
    a: Stub,
    b: Stub,
    bff: SocketAddr,
}

/// Stubs answering `fast` after 150 ms, `medium` after 400 ms, `slow` after `slow` (or never),
/// `dependent` at once; and a BFF over them.
async fn setup(slow: Reply, slow_timeout_ms: u64) -> Setup {
    let (a, b) = (Stub::start().await, Stub::start().await);
    a.on(
        "/fast/1",
        Reply::json(json!({"next": {"key": "k 1"}})).after(MS(150)),
    )
    .on("/medium/1", Reply::json(json!({"m": 1})).after(MS(400)));
    b.on("/slow/1", slow)
        .on("/dep/k%201", Reply::json(json!({"d": 1})));
    let bff = start_bff(&config_from(&view_config(&a, &b, slow_timeout_ms))).await;
    Setup { a, b, bff }
}

fn slow_reply() -> Reply {
    Reply::json(json!({"s": 1})).after(MS(800))
}

#[tokio::test]
async fn independent_parts_start_together_and_dependents_start_when_ready() {
    let s = setup(slow_reply(), 2000).await;
    let response = get_with(
        &format!("http://{}/api/views/v/1", s.bff),
        &[("x-request-id", "trace-me")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: ViewEnvelope = response.json().await.unwrap();
    assert!(view.complete, "{view:?}");
    assert_eq!(view.data("dependent").unwrap()["d"], 1);

    let fast_answered = s.a.first("/fast", EventKind::Answered).unwrap();
    for (stub, part) in [(&s.a, "/fast"), (&s.a, "/medium"), (&s.b, "/slow")] {
        let started = stub.first(part, EventKind::Started).unwrap();
        assert!(
            started < fast_answered,
            "{part} started before any part finished"
        );
    }
    let dependent_started = s.b.first("/dep", EventKind::Started).unwrap();
    assert!(
        dependent_started >= fast_answered,
        "waits for what it reads"
    );
    assert!(
        dependent_started < s.a.first("/medium", EventKind::Answered).unwrap(),
        "and not for anything else"
    );
    // The view takes as long as its slowest part, not the sum.
    assert!(
        view.elapsed_ms >= 800 && view.elapsed_ms < 1_500,
        "{}",
        view.elapsed_ms
    );
    // Upstream calls carry the request id.
    assert!(
        s.a.events()
            .iter()
            .all(|e| e.request_id.as_deref() == Some("trace-me"))
    );
}

#[tokio::test]
async fn a_slow_optional_part_times_out_alone_and_its_call_is_dropped() {
    let s = setup(Reply::hang(), 300).await;
    let started = Instant::now();
    let (status, view) = get_json::<ViewEnvelope>(format!("http://{}/api/views/v/1", s.bff)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "only critical parts decide the status"
    );
    assert!(!view.complete);
    let slow = &view.parts["slow"];
    assert_eq!(slow.status, PartStatus::Timeout);
    assert_eq!(slow.error.as_ref().unwrap().code, "timeout");
    assert!(slow.data.is_none());
    assert!(
        (300..1_000).contains(&slow.elapsed_ms),
        "{}",
        slow.elapsed_ms
    );
    for part in ["fast", "medium", "dependent"] {
        assert_eq!(view.parts[part].status, PartStatus::Ok, "{part}");
    }
    assert!(
        started.elapsed() < MS(2_000),
        "no waiting past the deadline"
    );
    assert!(
        s.b.wait_for("/slow", EventKind::ClientClosed, MS(2_000))
            .await
            .is_some(),
        "the abandoned upstream call was closed"
    );
}

#[tokio::test]
async fn failed_or_timed_out_critical_parts_are_502_and_504() {
    let s = setup(slow_reply(), 2000).await;
    s.a.on("/fast/1", Reply::status(503));
    let (status, view) = get_json::<ViewEnvelope>(format!("http://{}/api/views/v/1", s.bff)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(view.parts["fast"].status, PartStatus::Error);
    assert_eq!(
        view.parts["fast"].error.as_ref().unwrap().code,
        "upstream_status"
    );
    let dependent = &view.parts["dependent"];
    assert_eq!(dependent.status, PartStatus::Error);
    assert_eq!(dependent.error.as_ref().unwrap().code, "dependency_failed");
    assert_eq!(
        s.b.hits("/dep"),
        0,
        "a part whose input failed is not called"
    );
    assert_eq!(view.parts["medium"].status, PartStatus::Ok);

    s.a.on(
        "/fast/1",
        Reply::json(json!({"next": {"key": "k 1"}})).after(MS(5_000)),
    );
    let (status, view) = get_json::<ViewEnvelope>(format!("http://{}/api/views/v/1", s.bff)).await;
    // fast's own timeout (2 s) passes before the view's budget (3 s).
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(view.parts["fast"].status, PartStatus::Timeout);

    s.a.on("/fast/1", Reply::raw("{\"truncated\": "));
    let (status, view) = get_json::<ViewEnvelope>(format!("http://{}/api/views/v/1", s.bff)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        view.parts["fast"].error.as_ref().unwrap().code,
        "bad_upstream_response"
    );
}

#[tokio::test]
async fn fallbacks_stand_in_for_failed_parts() {
    let (a, b) = (Stub::start().await, Stub::start().await);
    let text = view_config(&a, &b, 2000).replace(
        "path = \"/slow/{id}\"",
        "path = \"/slow/{id}\"\nfallback = { items = [], note = \"later\" }",
    );
    a.on("/fast/1", Reply::json(json!({"next": {"key": "x"}})))
        .on("/medium/1", Reply::json(json!({})));
    b.on("/slow/1", Reply::status(500))
        .on("/dep/x", Reply::json(json!({})));
    let bff = start_bff(&config_from(&text)).await;
    let (status, view) = get_json::<ViewEnvelope>(format!("http://{bff}/api/views/v/1")).await;
    assert_eq!(status, StatusCode::OK);
    let slow = &view.parts["slow"];
    assert_eq!(slow.status, PartStatus::Fallback);
    assert_eq!(slow.data, Some(json!({"items": [], "note": "later"})));
    assert_eq!(slow.error.as_ref().unwrap().code, "upstream_status");
    assert!(!view.complete, "a fallback is not the real thing");
}

/// A streamed view's bytes as they arrive, decoded: brotli and gzip are decoded piece by piece
/// (each line was flushed on its own), so a line counts as arrived when its bytes did.
struct Decoded {
    coding: &'static str,
    received: Vec<u8>,
}

impl Decoded {
    /// Everything decodable from what has arrived so far.
    fn add(&mut self, chunk: &[u8]) -> Vec<u8> {
        use std::io::{Read, Write};
        self.received.extend_from_slice(chunk);
        let mut out = Vec::new();
        match self.coding {
            "br" => {
                let mut d = brotli::DecompressorWriter::new(Vec::new(), 4096);
                d.write_all(&self.received).unwrap();
                d.flush().unwrap();
                out = d.get_ref().clone();
            }
            "gzip" => {
                // Reads what the sync flushes made whole, then meets the stream's open end.
                let _ = flate2::read::GzDecoder::new(&self.received[..]).read_to_end(&mut out);
            }
            _ => out = self.received.clone(),
        }
        out
    }
}

#[tokio::test]
async fn ndjson_lines_arrive_in_completion_order_as_parts_finish() {
    // Compressed or not, nothing may get between a finished part and the client.
    for coding in ["br", "gzip", "identity"] {
        ndjson_lines_arrive_as_parts_finish(coding).await;
    }
}

async fn ndjson_lines_arrive_as_parts_finish(coding: &'static str) {
    let s = setup(slow_reply(), 2000).await;
    let client = reqwest::Client::new();
    let mut response = client
        .get(format!("http://{}/api/views/v/1", s.bff))
        .header("accept", "application/x-ndjson")
        .header("accept-encoding", coding)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert_eq!(response.headers()["vary"], "accept-encoding");
    let encoding = response.headers().get("content-encoding");
    assert_eq!(
        encoding.map(|v| v.to_str().unwrap()),
        (coding != "identity").then_some(coding)
    );

    let mut decoded = Decoded {
        coding,
        received: Vec::new(),
    };
    let mut consumed = 0;
    let mut lines: Vec<(StreamLine, Instant)> = Vec::new();
    let mut text = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        let arrived = Instant::now();
        text = decoded.add(&chunk);
        while let Some(end) = text[consumed..].iter().position(|&b| b == b'\n') {
            let line = &text[consumed..=consumed + end];
            lines.push((serde_json::from_slice(line).unwrap(), arrived));
            consumed += end + 1;
        }
    }
    assert_eq!(
        consumed,
        text.len(),
        "{coding}: every line ends with a newline"
    );
    let names: Vec<&str> = lines
        .iter()
        .filter_map(|(line, _)| match line {
            StreamLine::Part { name, .. } => Some(name.as_str()),
            StreamLine::Summary { .. } => None,
        })
        .collect();
    assert_eq!(names, ["fast", "dependent", "medium", "slow"], "{coding}");
    let slow_answered = s.b.first("/slow", EventKind::Answered).unwrap();
    assert!(
        lines[0].1 < slow_answered,
        "{coding}: the first line arrived before the slowest part was answered"
    );
    let (summary, _) = lines.last().unwrap();
    let StreamLine::Summary {
        complete, status, ..
    } = summary
    else {
        panic!("the last line is the summary: {summary:?}");
    };
    assert!(*complete);
    assert_eq!(*status, 200);
    if coding != "identity" {
        return;
    }

    // `?stream` asks for the same thing.
    let text = get_text(format!(
        "http://{}/api/views/v/1?stream&parts=medium",
        s.bff
    ))
    .await;
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[tokio::test]
async fn a_client_going_away_cancels_the_upstream_calls() {
    for stream in [false, true] {
        let s = setup(Reply::hang(), 2000).await;
        let query = if stream { "?stream" } else { "" };
        let client = reqwest::Client::new();
        let request = client
            .get(format!("http://{}/api/views/v/1{query}", s.bff))
            .timeout(MS(300));
        let gave_up = match request.send().await {
            // Streamed: the head arrives at once, the body stalls on the hung part.
            Ok(response) => response.text().await.unwrap_err(),
            Err(e) => e,
        };
        assert!(gave_up.is_timeout(), "stream={stream}: {gave_up}");
        drop(client);
        let closed =
            s.b.wait_for("/slow", EventKind::ClientClosed, MS(1_000))
                .await;
        assert!(
            closed.is_some(),
            "stream={stream}: the hung upstream call was closed when the client left, \
             long before its 2 s timeout"
        );
    }
}

#[tokio::test]
async fn parts_query_and_budget_header_narrow_the_view() {
    let s = setup(slow_reply(), 2000).await;
    let (status, view) =
        get_json::<ViewEnvelope>(format!("http://{}/api/views/v/1?parts=medium", s.bff)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view.parts.keys().collect::<Vec<_>>(), ["medium"]);
    assert_eq!(s.a.hits("/fast"), 0, "parts not asked for are not called");
    assert_eq!(s.b.hits("/slow"), 0);

    // A part is fetched with what it needs, and only it is returned.
    let (_, view) =
        get_json::<ViewEnvelope>(format!("http://{}/api/views/v/1?parts=dependent", s.bff)).await;
    assert_eq!(view.parts.keys().collect::<Vec<_>>(), ["dependent"]);
    assert_eq!(view.parts["dependent"].status, PartStatus::Ok);
    assert_eq!(s.a.hits("/fast"), 1);

    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = get_with(
        &format!("http://{}/api/views/v/1", s.bff),
        &[("x-budget-ms", "250")],
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    let view: ViewEnvelope = response.json().await.unwrap();
    assert_eq!(view.parts["fast"].status, PartStatus::Ok);
    assert_eq!(view.parts["medium"].status, PartStatus::Timeout);
    assert_eq!(view.parts["slow"].status, PartStatus::Timeout);
    assert!(elapsed < MS(700), "the shorter budget held: {elapsed:?}");

    for bad in ["0", "soon", "-5"] {
        let response = client
            .get(format!("http://{}/api/views/v/1", s.bff))
            .header("x-budget-ms", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn etags_follow_content_not_timing_and_answer_304() {
    let s = setup(Reply::json(json!({"s": 1})), 2000).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/views/v/1", s.bff);
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].clone();
    let again = assert_not_modified(&client, &url, &etag).await;
    assert!(again.bytes().await.unwrap().is_empty());

    s.b.on("/slow/1", Reply::json(json!({"s": 2})));
    let changed = client
        .get(&url)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"], etag);

    // One part alone, for tiles that load on their own.
    let part_url = format!("http://{}/api/parts/v/dependent/1", s.bff);
    let part = client.get(&part_url).send().await.unwrap();
    assert_eq!(part.status(), StatusCode::OK);
    let part_etag = part.headers()["etag"].clone();
    let outcome: PartOutcome = part.json().await.unwrap();
    assert_eq!(outcome.status, PartStatus::Ok);
    assert_eq!(outcome.data, Some(json!({"d": 1})));
    assert_not_modified(&client, &part_url, &part_etag).await;

    s.b.on("/dep/k%201", Reply::status(500));
    let failed = client.get(&part_url).send().await.unwrap();
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    let outcome: PartOutcome = failed.json().await.unwrap();
    assert_eq!(outcome.status, PartStatus::Error);
}
