//! A real `redis-server` on a free loopback port, for the tests that share a cache or
//! sessions between replicas.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tessera_bff::INVALIDATION_CHANNEL as CHANNEL;
use tokio::time::Instant;

/// A `redis-server` child process, killed on drop.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            // For DEBUG POPULATE and DEBUG SLEEP, from loopback only.
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh)");
        let redis = Self { child, port };
        let until = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < until, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command on a connection of its own.
    pub async fn command(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command.query_async(&mut connection).await.unwrap()
    }

    /// Makes Redis silent (connected, answering nothing) for `seconds`: `DEBUG SLEEP`.
    pub fn sleep(&self, seconds: u32) -> tokio::task::JoinHandle<()> {
        let url = self.url();
        tokio::spawn(async move {
            let client = redis::Client::open(url).unwrap();
            let patient = redis::AsyncConnectionConfig::new().set_response_timeout(None);
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&patient)
                .await
                .unwrap();
            let _: () = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(seconds)
                .query_async(&mut connection)
                .await
                .unwrap();
        })
    }

    /// Waits (up to 5 s) until `key` exists; `what` says what that shows.
    pub async fn wait_for_key(&self, key: &str, what: &str) {
        let until = Instant::now() + Duration::from_secs(5);
        while self.command(&["EXISTS", key]).await != redis::Value::Int(1) {
            assert!(Instant::now() < until, "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many connections subscribe to the invalidation channel.
    pub async fn subscribers(&self) -> i64 {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let (_, count): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(CHANNEL)
            .query_async(&mut connection)
            .await
            .unwrap();
        count
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
