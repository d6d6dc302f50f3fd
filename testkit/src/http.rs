//! HTTP helpers for tests: GET a JSON or text body, and check that a conditional GET is
//! answered `304 Not Modified` with the same validator.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// `GET url` and its status with the body as JSON of type `T`.
pub async fn get_json<T: DeserializeOwned>(url: impl reqwest::IntoUrl) -> (StatusCode, T) {
    let response = reqwest::get(url).await.expect("the request is sent");
    let status = response.status();
    (
        status,
        response.json().await.expect("the body is that JSON"),
    )
}

/// `GET url` and the body as text (whatever the status).
pub async fn get_text(url: impl reqwest::IntoUrl) -> String {
    reqwest::get(url)
        .await
        .expect("the request is sent")
        .text()
        .await
        .expect("the body is text")
}

/// Asks for `url` again with `If-None-Match: etag` and asserts a bodiless 304 carrying the same
/// ETag. Returns the response for further checks of its headers.
pub async fn assert_not_modified(
    client: &reqwest::Client,
    url: &str,
    etag: &reqwest::header::HeaderValue,
) -> reqwest::Response {
    let again = client
        .get(url)
        .header(reqwest::header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .expect("the request is sent");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
    assert_eq!(&again.headers()[reqwest::header::ETAG], etag, "{url}");
    again
}

/// `GET url` with extra request headers.
pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the request is sent")
}

/// `POST url` with a JSON body, as the bearer of `token` if one is given.
pub async fn post_json(
    url: &str,
    token: Option<&str>,
    body: &impl serde::Serialize,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the request is sent")
}
