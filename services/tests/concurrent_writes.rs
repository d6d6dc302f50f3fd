//! Concurrent writers on the reviews service (issue 14, item 11): every post is stored, none
//! answers 500, and the materialized summary still equals the reviews table.

mod support;

use reqwest::StatusCode;
use tessera_services::reviews::Reviews;
use tessera_services::{FaultSwitch, Scale};
use tessera_testkit::http::post_json;

const WRITERS: usize = 8;
const POSTS_EACH: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_succeed_and_the_summary_matches_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let reviews = Reviews::open(&dir.path().join("reviews.db"), Scale::SMALL).unwrap();
    let addr = support::serve(reviews.clone().router(FaultSwitch::default())).await;
    let before = reviews.summary(3).await.unwrap().unwrap();

    let url = format!("http://{addr}/products/3/reviews");
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for n in 0..POSTS_EACH {
                    let review = serde_json::json!({
                        "rating": 1 + (w + n) % 5,
                        "title": format!("Writer {w}, post {n}"),
                        "body": "Written while seven others wrote too.",
                        "author": format!("writer-{w}"),
                    });
                    statuses.push(post_json(&url, None, &review).await.status());
                }
                statuses
            })
        })
        .collect();
    let mut statuses: Vec<StatusCode> = Vec::new();
    for writer in writers {
        statuses.extend(writer.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, WRITERS * POSTS_EACH, "{statuses:?}");

    let after = reviews.summary(3).await.unwrap().unwrap();
    assert_eq!(after.count, before.count + (WRITERS * POSTS_EACH) as i64);
    assert_eq!(after, reviews.summary_by_scan(3).await.unwrap());
}
