//! The front end's types for the services' data (`tessera_contract::data`, which the wasm front
//! end compiles) read the services' real answers: every path a view's part calls (see the views
//! in `config/tessera.toml`) is fetched from the real services and deserialized into the type the
//! page decodes that part as. A field the page reads that a service renames, drops or retypes
//! fails here, not in a browser.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tessera_contract::data::{
    Category, Items, NewReview, Page, Product, ProductCard, Rating, Related, Review, ReviewSummary,
    Stock,
};
use tessera_services::Scale;
use tessera_services::demo::Demo;
use tessera_testkit::http::post_json;

/// `GET base + path`, read as the front end reads it.
async fn read<T: DeserializeOwned>(base: &str, path: &str) -> T {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let body: serde_json::Value = response.json().await.unwrap();
    serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("the front end cannot read {path}: {e}\n{body}"))
}

fn bases(demo: &Demo) -> [String; 4] {
    [
        &demo.catalog,
        &demo.inventory,
        &demo.reviews,
        &demo.recommendations,
    ]
    .map(|service| format!("http://{}", service.addr))
}

#[tokio::test]
async fn every_part_the_front_end_reads_fits_its_type() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), Scale::SMALL).await.unwrap();
    let [catalog, inventory, reviews, recommendations] = bases(&demo);

    // The home and category views: a page of cards, the categories, and the cards' price and
    // rating in batches.
    let cards: Page<ProductCard> = read(&catalog, "/products?page=1&per_page=12").await;
    assert_eq!(cards.items.len(), 12);
    assert_eq!((cards.page, cards.total_pages), (1, 20));
    let categories: Items<Category> = read(&catalog, "/categories").await;
    let first = categories.items.first().expect("seeded categories");
    let in_category: Page<ProductCard> = read(
        &catalog,
        &format!("/products?category={}&page=1&per_page=12", first.slug),
    )
    .await;
    assert_eq!(in_category.total, first.product_count);
    let ids = cards
        .items
        .iter()
        .map(|card| card.id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let stock: Items<Stock> = read(&inventory, &format!("/stock?ids={ids}")).await;
    assert_eq!(stock.items.len(), 12);
    let ratings: Items<Rating> = read(&reviews, &format!("/summaries?ids={ids}")).await;
    assert_eq!(ratings.items.len(), 12);

    // The product view, for a product with reviews (so the review type is exercised too).
    let id = ratings
        .items
        .iter()
        .find(|rating| rating.count > 0)
        .expect("some of the first products have reviews")
        .product_id;
    let product: Product = read(&catalog, &format!("/products/{id}")).await;
    assert_eq!(product.id, id);
    let _: Stock = read(&inventory, &format!("/products/{id}/stock")).await;
    let summary: ReviewSummary = read(&reviews, &format!("/products/{id}/summary")).await;
    assert_eq!(summary.histogram.iter().sum::<i64>(), summary.count);
    let page: Page<Review> = read(
        &reviews,
        &format!("/products/{id}/reviews?per_page=5&page=1"),
    )
    .await;
    assert!(!page.items.is_empty());
    let related: Items<Related> = read(
        &recommendations,
        &format!("/products/{id}/recommendations?limit=4"),
    )
    .await;
    assert_eq!(related.items.len(), 4);
    let picks: Items<Related> = read(
        &recommendations,
        &format!(
            "/categories/{}/recommendations?limit=4",
            product.category.slug
        ),
    )
    .await;
    assert!(!picks.items.is_empty());
}

#[tokio::test]
async fn the_review_the_front_end_sends_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), Scale::SMALL).await.unwrap();
    let [_, _, reviews, _] = bases(&demo);
    let review = NewReview {
        rating: 4,
        title: "Sturdy".into(),
        body: "Holds up well.".into(),
        author: "Contract test".into(),
    };
    let created = post_json(&format!("{reviews}/products/3/reviews"), None, &review).await;
    assert_eq!(created.status(), StatusCode::CREATED);

    let page: Page<Review> = read(&reviews, "/products/3/reviews?per_page=5&page=1").await;
    let newest = &page.items[0];
    assert_eq!(
        (newest.rating, &newest.title, &newest.body, &newest.author),
        (review.rating, &review.title, &review.body, &review.author)
    );
}
