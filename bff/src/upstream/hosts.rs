//! The hosts of one upstream: picked round-robin, and ejected for a while when one keeps failing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::EjectionConfig;

#[derive(Debug)]
struct Host {
    base: String,
    health: Mutex<(u32, Option<Instant>)>,
}

/// The hosts of one upstream, picked round-robin, skipping those ejected for failing.
#[derive(Debug)]
pub(crate) struct Hosts {
    hosts: Vec<Host>,
    next: AtomicUsize,
    config: EjectionConfig,
}

impl Hosts {
    pub(crate) fn new(bases: Vec<String>, config: EjectionConfig) -> Self {
        let hosts = bases
            .into_iter()
            .map(|base| Host {
                base,
                health: Mutex::new((0, None)),
            })
            .collect();
        Self {
            hosts,
            next: AtomicUsize::new(0),
            config,
        }
    }

    /// The index and base URL of the next host in rotation; if every host is ejected, the next
    /// one anyway (a guess beats a certain failure).
    pub(crate) fn pick(&self) -> (usize, &str) {
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.hosts.len();
        let index = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| {
                let (_, ejected_until) = *self.hosts[i].health.lock().expect("host lock");
                ejected_until.is_none_or(|until| now >= until)
            })
            .unwrap_or(start % n);
        (index, &self.hosts[index].base)
    }

    /// Each host's base URL (without credentials) and, while it is ejected, until when.
    pub(crate) fn states(&self) -> Vec<(&str, Option<Instant>)> {
        let now = Instant::now();
        self.hosts
            .iter()
            .map(|host| {
                let (_, until) = *host.health.lock().expect("host lock");
                (
                    without_credentials(&host.base),
                    until.filter(|&until| until > now),
                )
            })
            .collect()
    }

    pub(crate) fn record(&self, index: usize, success: bool) {
        let mut health = self.hosts[index].health.lock().expect("host lock");
        if success {
            *health = (0, None);
            return;
        }
        health.0 += 1;
        if health.0 >= self.config.consecutive_failures && self.hosts.len() > 1 {
            tracing::warn!(host = %self.hosts[index].base, "host ejected");
            *health = (
                0,
                Some(Instant::now() + Duration::from_millis(self.config.eject_ms)),
            );
        }
    }
}

/// SECURITY: a base URL as it may be shown (ops page, traces): `http://user:secret@host:1`
/// becomes `host:1`, and so does `http://host:1`.
pub(crate) fn without_credentials(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_never_show() {
        use super::without_credentials;
        assert_eq!(
            without_credentials("http://user:pw@db.internal:81/x"),
            "db.internal:81"
        );
        assert_eq!(
            without_credentials("https://10.0.0.1:8443"),
            "10.0.0.1:8443"
        );
        assert_eq!(without_credentials("http://a@b@host"), "host");
    }

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failing_hosts_are_ejected_and_return() {
        let hosts = Hosts::new(
            vec!["a".into(), "b".into()],
            EjectionConfig {
                consecutive_failures: 2,
                eject_ms: 500,
            },
        );
        for _ in 0..2 {
            hosts.record(0, false);
        }
        for _ in 0..4 {
            assert_eq!(hosts.pick().1, "b");
        }
        tokio::time::advance(Duration::from_millis(501)).await;
        let picked: Vec<&str> = (0..4).map(|_| hosts.pick().1).collect();
        assert!(picked.contains(&"a") && picked.contains(&"b"), "{picked:?}");
    }
}
