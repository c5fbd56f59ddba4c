//! In-memory request metrics (by route pattern) and the request timer: shared state, apart from
//! the `/metrics` handler (`crate::ops`) that renders them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// Request counters, kept in memory by route pattern (never the raw path, which may hold a
/// subject code).
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *m.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_insert(0) += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP credit_lists_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE credit_lists_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            out.push_str(&format!(
                "credit_lists_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                escape(route),
                escape(method),
                status,
                n
            ));
        }
        out.push_str(
            "# HELP credit_lists_http_request_duration_seconds Request latency by route.\n",
        );
        out.push_str("# TYPE credit_lists_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let r = escape(route);
            for (i, le) in BUCKETS.iter().enumerate() {
                out.push_str(&format!(
                    "credit_lists_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{le}\"}} {}\n",
                    h.counts[i]
                ));
            }
            out.push_str(&format!(
                "credit_lists_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}\n",
                h.count
            ));
            out.push_str(&format!(
                "credit_lists_http_request_duration_seconds_sum{{route=\"{r}\"}} {}\n",
                h.sum
            ));
            out.push_str(&format!(
                "credit_lists_http_request_duration_seconds_count{{route=\"{r}\"}} {}\n",
                h.count
            ));
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub struct Timer(Instant);

impl Timer {
    pub fn start() -> Self {
        Timer(Instant::now())
    }
    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}
