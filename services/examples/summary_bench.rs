//! Benchmark: reading the materialized review summary of the product with the most reviews,
//! against computing the same figures from the reviews table, on the demo-scale store.
//!
//! Run: `cargo run --profile server -p tessera-services --example summary_bench [data-dir]`

use std::time::Instant;

use tessera_services::Scale;
use tessera_services::reviews::Reviews;
use tessera_testkit::bench::{machine, write_section};

const ROUNDS: usize = 2_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "data".into());
    let path = std::path::Path::new(&dir).join("reviews.db");
    let reviews = Reviews::open(&path, Scale::DEMO)?;
    let mut busiest = (0, 0);
    for id in 1..=i64::from(Scale::DEMO.products) {
        let count = reviews.summary(id).await?.map_or(0, |s| s.count);
        if count > busiest.1 {
            busiest = (id, count);
        }
    }
    let (id, count) = busiest;
    assert_eq!(
        reviews.summary(id).await?,
        Some(reviews.summary_by_scan(id).await?)
    );

    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut materialized = Vec::with_capacity(ROUNDS);
    let mut scanned = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        reviews.summary(id).await?;
        materialized.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        reviews.summary_by_scan(id).await?;
        scanned.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (m, s) = (median(materialized), median(scanned));
    let report = format!(
        "## Review summary: materialized vs computed (issue 3)

The product with the most reviews in the demo store (product {id}, {count} reviews), median of
{ROUNDS} reads each, interleaved in one run, through the same connection pool:

| read | median |
| --- | --- |
| materialized summary (`GET /products/{{id}}/summary`'s query) | **{m:.1} µs** |
| the same figures computed from the reviews table (peer) | {s:.1} µs |
| ratio | **{:.1}× faster** |

Machine: {}.
Reproduce (after `./scripts/demo.sh` has seeded `data/`):
`cargo run --profile server -p tessera-services --example summary_bench data`",
        s / m,
        machine()
    );
    println!("{report}");
    write_section("summary", &report)?;
    Ok(())
}
