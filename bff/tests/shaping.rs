//! Each part's data shaped for its page (select, omit, rename, a jq transform), against stub
//! upstreams over real HTTP: the cache keeps the upstream's answer whole, dependencies read it
//! unshaped, and a transform that fails or runs away is that part's error within its deadline.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{config_from, start_bff};
use tessera_contract::{PartStatus, ViewEnvelope};
use tessera_testkit::config::{BffConfig, Part};
use tessera_testkit::http::get_json;
use tessera_testkit::stub::{EventKind, Reply, Stub};

fn summary() -> Value {
    json!({
        "count": 2, "average": 4.5,
        "best": {"title": "Great", "body": "A long review body"},
        "items": [
            {"id": 1, "title": "a", "body": "long", "author": {"name": "Ada", "email": "a@x"}},
            {"id": 2, "title": "b", "body": "long", "author": {"name": "Lin", "email": "l@x"}}
        ]
    })
}

async fn view(bff: std::net::SocketAddr, view: &str) -> ViewEnvelope {
    let (status, envelope) = get_json(format!("http://{bff}/api/views/{view}/1")).await;
    assert_eq!(status, StatusCode::OK, "{envelope:?}");
    envelope
}

#[tokio::test]
async fn parts_are_shaped_and_the_cache_keeps_the_answer_whole() {
    let stub = Stub::start().await;
    stub.on("/summary/1", Reply::json(summary()));
    stub.on(
        "/authors/Ada",
        Reply::json(json!({"name": "Ada", "books": 3})),
    );
    let summary_part = |name: &str| {
        Part::new(name, "s", "/summary/{id}", 500)
            .critical()
            .cached(60_000, 0, 0)
    };
    let text = BffConfig::new()
        .upstream("s", &stub.url())
        .view(
            "grid",
            [summary_part("summary").with(r#"select = ["count", "average"]"#)],
        )
        .view(
            "page",
            [
                summary_part("summary")
                    .with(r#"omit = ["best", "items.*.body", "items.*.author"]"#)
                    .with(r#"rename = { "average" = "mean", "items.*.title" = "heading" }"#),
                // Reads a field the summary's shaping drops: it sees the answer unshaped.
                Part::new("author", "s", "/authors/{summary.items.0.author.name}", 500),
                Part::new("ids", "s", "/summary/{id}", 500)
                    .with(r#"transform = "{n: (.items | length), ids: [.items[].id]}""#),
            ],
        )
        .toml();
    let bff = start_bff(&config_from(&text)).await;

    let grid = view(bff, "grid").await;
    assert_eq!(
        grid.data("summary").unwrap(),
        &json!({"count": 2, "average": 4.5})
    );
    let page = view(bff, "page").await;
    assert_eq!(
        page.data("summary").unwrap(),
        &json!({"count": 2, "mean": 4.5, "items": [
            {"id": 1, "heading": "a"}, {"id": 2, "heading": "b"}
        ]})
    );
    assert_eq!(page.parts["author"].status, PartStatus::Ok, "{page:?}");
    assert_eq!(page.data("author").unwrap()["books"], 3);
    assert_eq!(page.data("ids").unwrap(), &json!({"n": 2, "ids": [1, 2]}));
    // One cached answer, shaped two ways (the uncached `ids` part made the other call).
    assert_eq!(stub.hits("/summary/1"), 2);
}

#[tokio::test]
async fn a_failing_or_runaway_transform_is_the_parts_error_within_its_deadline() {
    let stub = Stub::start().await;
    stub.on("/summary/1", Reply::json(summary()));
    let text = BffConfig::new()
        .upstream("s", &stub.url())
        .view(
            "v",
            [
                Part::new("main", "s", "/summary/{id}", 500).critical(),
                Part::new("failing", "s", "/summary/{id}", 500)
                    .with(r#"transform = ".count | error(\"no count for you\")""#),
                Part::new("runaway", "s", "/summary/{id}", 300)
                    .with(r#"transform = "last(range(1e15))""#),
                Part::new("nothing", "s", "/summary/{id}", 500).with(r#"transform = "empty""#),
            ],
        )
        .toml();
    let bff = start_bff(&config_from(&text)).await;
    let started = Instant::now();
    let envelope = view(bff, "v").await;
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    assert_eq!(envelope.parts["main"].status, PartStatus::Ok);
    for name in ["failing", "runaway", "nothing"] {
        let part = &envelope.parts[name];
        assert_eq!(part.status, PartStatus::Error, "{name}: {part:?}");
        assert_eq!(
            part.error.as_ref().unwrap().code,
            "transform_failed",
            "{name}"
        );
    }
    let message = |name: &str| envelope.parts[name].error.as_ref().unwrap().message.clone();
    assert!(
        message("failing").contains("no count for you"),
        "{}",
        message("failing")
    );
    assert!(
        message("runaway").contains("deadline"),
        "{}",
        message("runaway")
    );
    assert!(
        message("nothing").contains("no output"),
        "{}",
        message("nothing")
    );
    assert!(!envelope.complete);
    // The runaway run was watched to its one-second cap although its part gave up sooner:
    // the transform is off for a while now, and no thread is started for it.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let again = view(bff, "v").await;
    let error = again.parts["runaway"].error.as_ref().unwrap();
    assert!(error.message.contains("off for a minute"), "{error:?}");
}

/// The most requests the stub had under way at once.
fn most_at_once(stub: &Stub) -> usize {
    let mut events = stub.events();
    events.sort_by_key(|e| e.at);
    let (mut now, mut most) = (0usize, 0usize);
    for event in events {
        match event.kind {
            EventKind::Started => now += 1,
            EventKind::Answered | EventKind::ClientClosed => now = now.saturating_sub(1),
        }
        most = most.max(now);
    }
    most
}

#[tokio::test]
async fn a_per_item_part_calls_once_per_item_in_order_within_its_deadline() {
    let (list, items) = (Stub::start().await, Stub::start().await);
    let mut ids: Vec<Value> = (1..=8).map(|id| json!({"id": id})).collect();
    // An element without the field keeps its place (it fails alone).
    ids.push(json!({"name": "no id"}));
    list.on("/list/1", Reply::json(json!({"items": ids})));
    for id in 1..=8 {
        let reply = match id {
            3 => Reply::hang(),
            5 => Reply::status(500),
            _ => Reply::json(json!({"n": id})).after(Duration::from_millis(20)),
        };
        items.on(&format!("/item/{id}"), reply);
    }
    let text = BffConfig::new()
        .upstream("list", &list.url())
        .upstream_with(
            "items",
            &format!("url = \"{}\"\nretry = {{ max_attempts = 1 }}", items.url()),
        )
        .view(
            "v",
            [
                Part::new("list", "list", "/list/{id}", 500).critical(),
                Part::new("each", "items", "/item/{item}", 1_000)
                    .cached(60_000, 0, 0)
                    .with(r#"each = "list.items.*.id""#)
                    .with("each_concurrency = 2"),
            ],
        )
        .toml();
    let bff = start_bff(&config_from(&text)).await;
    let started = Instant::now();
    let envelope = view(bff, "v").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "within the deadline"
    );
    let part = &envelope.parts["each"];
    assert_eq!(part.status, PartStatus::Partial, "{part:?}");
    let mut expected: Vec<Value> = (1..=8).map(|n| json!({"n": n})).collect();
    expected[2] = Value::Null;
    expected[4] = Value::Null;
    expected.push(Value::Null);
    assert_eq!(part.data.as_ref().unwrap(), &Value::Array(expected));
    let failed: Vec<(usize, &str, &str)> = part
        .failed
        .iter()
        .map(|f| (f.index, f.item.as_str(), f.code.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            (2, "3", "timeout"),
            (4, "5", "upstream_status"),
            (8, "", "dependency_failed")
        ]
    );
    assert_eq!(part.error.as_ref().unwrap().code, "partial");
    assert!(!envelope.complete);
    assert!(
        most_at_once(&items) <= 2,
        "{} at once",
        most_at_once(&items)
    );

    // Each item has a cache entry of its own; a list with holes is not kept as the rendered
    // view, so the failed items are asked again.
    let again = view(bff, "v").await;
    assert_eq!(again.parts["each"].data, part.data);
    assert_eq!(items.hits("/item/1"), 1);
    assert_eq!(items.hits("/item/8"), 1);
    assert_eq!(items.hits("/item/5"), 2);
}

#[tokio::test]
async fn a_per_item_part_over_an_empty_list_makes_no_call() {
    let (list, items) = (Stub::start().await, Stub::start().await);
    list.on("/list/1", Reply::json(json!({"items": []})));
    let text = BffConfig::new()
        .upstream("list", &list.url())
        .upstream("items", &items.url())
        .view(
            "v",
            [
                Part::new("list", "list", "/list/{id}", 500).critical(),
                Part::new("each", "items", "/item/{item}", 500)
                    .with(r#"each = "list.items.*.id""#)
                    .with("empty = []"),
            ],
        )
        .toml();
    let bff = start_bff(&config_from(&text)).await;
    let envelope = view(bff, "v").await;
    assert_eq!(envelope.parts["each"].status, PartStatus::Ok);
    assert_eq!(envelope.data("each").unwrap(), &json!([]));
    assert!(items.events().is_empty());
}
