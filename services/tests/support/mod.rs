//! What the services' integration tests share: a service on a free port with its store in a temp
//! dir, GETs of JSON, the conditional-GET check, and a client for `/admin/faults`.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;

use reqwest::StatusCode;
use tessera_services::common::db::DbError;
use tessera_services::{FaultSwitch, Scale};

/// A service serving on `127.0.0.1:0`; its SQLite file lives in a temp dir as long as this does.
pub struct Running {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Opens a service's store as `file` (small scale) in a fresh temp dir with `open`, and serves
/// its `router` without faults.
pub async fn start<S>(
    file: &str,
    open: impl FnOnce(&Path, Scale) -> Result<S, DbError>,
    router: impl FnOnce(S, FaultSwitch) -> axum::Router,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir.path().join(file), Scale::SMALL).unwrap();
    let addr = serve(router(service, FaultSwitch::default())).await;
    Running { addr, _dir: dir }
}

/// Serves `app` on `127.0.0.1:0` for the rest of the test.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// `GET url`: the status and the JSON body.
pub async fn get(url: String) -> (StatusCode, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// GETs `url` and checks that the answer may be cached (`Cache-Control` with a `max-age`) and
/// that its ETag, sent back in `If-None-Match`, is answered 304 with the same ETag.
pub async fn assert_revalidates(client: &reqwest::Client, url: &str, service: &str) {
    let first = client.get(url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK, "{service}");
    assert!(
        first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age"),
        "{service}"
    );
    let etag = first.headers()["etag"].clone();
    let again = client
        .get(url)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{service}");
    assert_eq!(again.headers()["etag"], etag, "{service}");
}

/// A service's `/admin/faults`.
pub struct Admin<'a> {
    client: &'a reqwest::Client,
    url: String,
}

impl<'a> Admin<'a> {
    pub fn new(client: &'a reqwest::Client, addr: SocketAddr) -> Self {
        Self {
            client,
            url: format!("http://{addr}/admin/faults"),
        }
    }

    /// `PUT` these faults.
    pub async fn put(&self, faults: serde_json::Value) -> reqwest::Response {
        self.client
            .put(&self.url)
            .json(&faults)
            .send()
            .await
            .unwrap()
    }

    /// `PUT` a raw body as JSON.
    pub async fn put_raw(&self, body: &'static str) -> reqwest::Response {
        self.client
            .put(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// The faults in force.
    pub async fn current(&self) -> serde_json::Value {
        self.client
            .get(&self.url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `DELETE`: back to no faults.
    pub async fn reset(&self) -> StatusCode {
        self.client.delete(&self.url).send().await.unwrap().status()
    }
}
