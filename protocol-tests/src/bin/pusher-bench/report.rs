//! The result of one run: printed as a human table or one JSON line, and compared by name.

use serde::Serialize;

/// Every number a scenario can produce. Fields a scenario does not measure stay `None` and
/// are left out of both outputs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    /// Which server: `--label`, or `herald` / `reference` under `compare`.
    pub target: String,
    pub connections: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_deliveries_per_s: Option<f64>,
    pub window_s: f64,
    pub events: u64,
    pub publish_errors: u64,
    /// API responses carrying `Connection: close` (keep-alive refused).
    pub http_closes: u64,
    pub expected: u64,
    pub deliveries: u64,
    pub lost: u64,
    pub out_of_order: u64,
    /// Subscriber sockets the server closed during the run.
    pub disconnects: u64,
    pub server_errors: u64,
    pub deliveries_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p999_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_delivery: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_kb: Option<u64>,
    /// A cluster's redis-server (`--redis-pid`), outside the server figures above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_cpu_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_cpu_us_per_delivery: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kb_per_connection: Option<f64>,
    /// The load generator's own CPU over the window, in % of one core.
    pub client_cpu_pct: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connects_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_connect: Option<f64>,
    /// `triggers`: accepted (2xx) API requests per second of the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_s: Option<f64>,
    /// `triggers`: answers outside 2xx in the window (a valid run has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_2xx: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_request: Option<f64>,
    /// `triggers`: the load generator's own CPU per request, to show it is not the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cpu_us_per_request: Option<f64>,
    /// `saturate`: the highest step that passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sustainable_deliveries_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Which direction of a metric is better, for the comparison table.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

impl Report {
    /// Sets the latency fields from a percentile array (see `stats::percentiles_ms`).
    pub fn set_latency(&mut self, p: Option<[f64; 5]>) {
        if let Some([p50, p90, p99, p999, max]) = p {
            self.p50_ms = Some(p50);
            self.p90_ms = Some(p90);
            self.p99_ms = Some(p99);
            self.p999_ms = Some(p999);
            self.max_ms = Some(max);
        }
    }

    /// The numeric metrics worth comparing across servers, with their names.
    pub fn metrics(&self) -> Vec<(&'static str, f64, Better)> {
        use Better::*;
        let mut out = Vec::new();
        let mut push = |name, value: Option<f64>, better| {
            if let Some(v) = value {
                out.push((name, v, better));
            }
        };
        push("sustainable deliveries/s", self.sustainable_deliveries_per_s, Higher);
        push("requests/s", self.requests_per_s, Higher);
        push("CPU µs/request", self.cpu_us_per_request, Lower);
        push("non-2xx", self.non_2xx.map(|n| n as f64), Lower);
        push("client CPU µs/request", self.client_cpu_us_per_request, Lower);
        push("connects/s", self.connects_per_s, Higher);
        push("connect p50 ms", self.connect_p50_ms, Lower);
        push("connect p99 ms", self.connect_p99_ms, Lower);
        push("CPU µs/connect", self.cpu_us_per_connect, Lower);
        if self.deliveries > 0 && self.sustainable_deliveries_per_s.is_none() {
            push("deliveries/s", Some(self.deliveries_per_s), Higher);
        }
        push("CPU µs/delivery", self.cpu_us_per_delivery, Lower);
        push("server CPU %", self.server_cpu_pct, Lower);
        push("redis CPU µs/delivery", self.redis_cpu_us_per_delivery, Lower);
        push("redis CPU %", self.redis_cpu_pct, Lower);
        push("p50 ms", self.p50_ms, Lower);
        push("p90 ms", self.p90_ms, Lower);
        push("p99 ms", self.p99_ms, Lower);
        push("p99.9 ms", self.p999_ms, Lower);
        push("max ms", self.max_ms, Lower);
        push("KB/connection", self.kb_per_connection, Lower);
        if self.expected > 0 {
            push("lost", Some(self.lost as f64), Lower);
        }
        push("client CPU %", Some(self.client_cpu_pct), Lower);
        out
    }

    /// One JSON line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }

    /// A two-column table for people.
    pub fn human(&self) -> String {
        let value = serde_json::to_value(self).expect("a report always serializes");
        let mut out = format!("== {} against {} ==\n", self.scenario, self.target);
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                if k == "scenario" || k == "target" {
                    continue;
                }
                let shown = match &v {
                    serde_json::Value::Number(n) => match n.as_f64() {
                        Some(f) if n.is_f64() => format_number(f),
                        _ => n.to_string(),
                    },
                    serde_json::Value::Array(items) => {
                        items.iter().map(|i| i.as_str().unwrap_or("").to_string()).collect::<Vec<_>>().join("; ")
                    }
                    other => other.to_string(),
                };
                out.push_str(&format!("  {k:<30} {shown}\n"));
            }
        }
        out
    }

    /// Prints in the chosen format.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.json());
        } else {
            print!("{}", self.human());
        }
    }
}

/// Three significant decimals for small numbers, none for large ones.
pub fn format_number(f: f64) -> String {
    if f.abs() >= 1000.0 {
        format!("{f:.0}")
    } else if f.abs() >= 10.0 {
        format!("{f:.1}")
    } else {
        format!("{f:.2}")
    }
}
