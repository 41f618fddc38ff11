//! Binding the listener, running it, and shutting it down gracefully.

use actix_web::{web, App, HttpServer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::adapter::local::LocalAdapter;
use crate::adapter::redis::RedisAdapter;
use crate::config::{AdapterKind, Config};
use crate::protocol::close_code;
use crate::reload::Loader;
use crate::state::{Shared, State};
use crate::tls::ReloadableCert;
use crate::webhooks::WebhookEvent;
use crate::workers::{Workers, WorkersHandle};

/// The HTTP service of one worker: actix-web routes for ordinary requests, and
/// [`crate::connection::accept`] for every request that asks for `Upgrade: websocket`.
///
/// Built from actix-http rather than `HttpServer` because only its upgrade hook hands over the
/// raw stream, which is what lets a WebSocket connection shed actix's per-connection buffers.
/// A macro because the service's type cannot be named; the TCP and TLS listeners each
/// finish it for their own stream type. It serves what `listener::reader` hands over.
macro_rules! http_service {
    ($state:expr, $addr:expr) => {{
        let state: State = $state;
        let state_for_front = state.clone();
        let app = App::new()
            .app_data(web::Data::new(state.clone()))
            .wrap(actix_web::middleware::from_fn(crate::http::count_api_requests))
            .configure(crate::http::routes);
        let upgrade = actix_service::fn_service(move |(req, framed)| {
            crate::connection::accept(state.clone(), req, framed);
            std::future::ready(Ok::<_, actix_web::Error>(()))
        });
        actix_http::HttpService::build()
            // actix-web's defaults for `HttpServer`, which herald used before.
            .keep_alive(crate::listener::KEEP_ALIVE)
            .client_request_timeout(crate::listener::REQUEST_TIMEOUT)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr($addr)
            .upgrade(upgrade)
            .finish(crate::http::publishing_first(state_for_front, actix_service::map_config(app, |_| actix_web::dev::AppConfig::default())))
    }};
}

/// A bound, running server.
pub struct Server {
    pub state: State,
    pub addr: SocketAddr,
    /// Set when the listener speaks TLS; reloaded on SIGHUP.
    pub tls: Option<Arc<ReloadableCert>>,
    workers: Workers,
    /// How SIGHUP reads the configuration again; without it, SIGHUP reloads TLS only.
    reload: Option<Loader>,
}

impl Server {
    /// Builds the shared state and binds `host:port` (port 0 picks a free port).
    /// Must be called inside an actix system (`actix_web::rt::System`).
    pub fn bind(config: Config) -> std::io::Result<Server> {
        let state = match config.adapter {
            AdapterKind::Local => Shared::new(config, Arc::new(LocalAdapter), false),
            AdapterKind::Redis => {
                let adapter = RedisAdapter::new(&config).map_err(std::io::Error::other)?;
                let state = Shared::new(config, adapter.clone(), true);
                adapter.start(&state);
                state
            }
        };
        let workers = match state.config.workers {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        };
        let listener = open_listener(&state.config.host, state.config.port)?;
        let addr = listener.local_addr()?;
        grow_descriptor_table(&listener);
        // A second handle on the listening socket, to refuse new connections at shutdown.
        let _ = state.listener.set(listener.try_clone()?);
        let factory_state = state.clone();
        let (workers, tls) = if state.config.tls_cert.is_empty() {
            let make = move || crate::listener::reader(factory_state.clone(), http_service!(factory_state.clone(), addr));
            (Workers::start(&listener, workers, make)?, None)
        } else {
            let cert = ReloadableCert::load(&state.config.tls_cert, &state.config.tls_key).map_err(std::io::Error::other)?;
            let tls_config = cert.server_config().map_err(std::io::Error::other)?;
            // TLS handshakes in progress at once, per worker (actix's default is 256).
            actix_tls::accept::max_concurrent_tls_connect(2048);
            let make = move || {
                use actix_service::ServiceFactoryExt;
                use actix_tls::accept::TlsError;
                // HTTP/1.1 is the one protocol offered (herald speaks no HTTP/2), as actix-http
                // would; after the TLS handshake, connections meet herald's reader like plain
                // TCP ones.
                let mut config = tls_config.clone();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                let reader = crate::listener::reader(factory_state.clone(), http_service!(factory_state.clone(), addr));
                actix_tls::accept::rustls_0_23::Acceptor::new(config)
                    .map_err(TlsError::into_service_error)
                    .and_then(reader.map_err(TlsError::Service))
            };
            (Workers::start(&listener, workers, make)?, Some(cert))
        };
        actix_web::rt::spawn(housekeeping(state.clone()));
        if state.config.metrics_enabled {
            start_metrics_listener(&state);
        }
        Ok(Server { state, addr, tls, workers, reload: None })
    }

    /// Lets SIGHUP apply what `load` returns then (apps, TLS files); see [`crate::reload`].
    pub fn reload_with(mut self, load: Loader) -> Server {
        self.reload = Some(load);
        self
    }

    /// Runs until SIGTERM/SIGINT, then shuts down gracefully. SIGHUP reloads.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        let handle = self.workers.handle();
        let state = self.state.clone();
        actix_web::rt::spawn(reload_on_sighup(self.state.clone(), self.reload, self.tls.clone()));
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested: closing sockets with 4200 so clients reconnect elsewhere");
            shutdown(&state, handle).await;
        });
        self.workers.wait().await
    }

    /// A handle for tests to stop the server the way a signal would.
    pub fn shutdown_handle(&self) -> (State, WorkersHandle) {
        (self.state.clone(), self.workers.handle())
    }

    /// Serves until the workers are stopped (through [`Server::shutdown_handle`]).
    pub async fn run(self) -> std::io::Result<()> {
        self.workers.wait().await
    }
}

/// Binds `host:port` with a deep accept backlog.
fn open_listener(host: &str, port: u16) -> std::io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("`host` = \"{host}\" resolves to no address")))?;
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Descriptors the kernel's table is grown to hold at start: enough for this machine class's
/// socket counts without costing much kernel memory (8 bytes each) where the limit is huge.
const DESCRIPTORS_AT_START: libc::c_int = 1 << 16;

/// Raises the open-file limit to its hard ceiling (as Go's runtime does: a real-time server
/// holds one descriptor per socket, and the usual soft limit of 1,024 would refuse sockets
/// long before the machine runs out), then grows the process's descriptor table up to that
/// limit so accepting never has to grow it while clients wait.
///
/// The kernel grows the table by doubling, and in a process with several threads every
/// growth waits for an RCU grace period (milliseconds) inside `accept`: a fresh server
/// stalled its accept thread about eight times on its way to 10,000 sockets, which was nearly
/// all of its p99 time to `connection_established` (docs/benchmarks.md, session 4). The table
/// never shrinks, so one descriptor placed near the top, then closed, is enough.
fn grow_descriptor_table(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read or write the struct they are given; fcntl and
    // close take plain integers.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                tracing::info!(from = limit.rlim_cur, to = limit.rlim_max, "raised the open-file limit to its hard ceiling");
                limit = raised;
            }
        }
        let highest = limit.rlim_cur.min(DESCRIPTORS_AT_START as libc::rlim_t) as libc::c_int - 1;
        let fd = libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, highest);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}

/// Refuses new sockets, asks every socket to reconnect elsewhere (4200), waits for them to
/// drain within the grace period, then stops the server.
pub async fn shutdown(state: &State, handle: WorkersHandle) {
    state.begin_shutdown();
    // Stop accepting and close the listening socket at once: new connections are refused
    // (a load balancer fails over, a client retries elsewhere) instead of being accepted and
    // then reset when the process exits.
    if let Some(listener) = state.listener.get() {
        let _ = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Both);
    }
    // Every worker's accept then fails and ends; pausing ends any that has not tried yet.
    handle.pause();
    for app in state.apps() {
        for conn in app.connections() {
            conn.close(close_code::SERVER_SHUTDOWN);
        }
    }
    let grace = Duration::from_secs(state.config.shutdown_grace_period);
    let deadline = tokio::time::Instant::now() + grace;
    // Drained means every session has said goodbye (its queued frames, 4200, the close
    // handshake, each bounded) and every HTTP request read has been answered (answered with
    // `Connection: close` from now on, so clients take their next request elsewhere):
    // stopping the workers would cut one still under way.
    let drained = tokio::time::timeout_at(deadline, async {
        while state.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("grace period ended with sockets or requests still open; stopping anyway");
    }
    // Leaves caused by the shutdown are sent now rather than after the leave delay.
    state.adapter.drain().await;
    state.webhooks.flush(deadline.saturating_duration_since(tokio::time::Instant::now())).await;
    // Sockets that did not close in time (peers that stopped reading) are cut now: each
    // worker drops its runtime, and with it every connection task it still holds.
    handle.stop();
}

/// Serves `GET /metrics` on its own listener. A busy port is logged, not fatal: metrics must
/// never keep the real-time service from starting.
fn start_metrics_listener(state: &State) {
    let data = web::Data::new(state.clone());
    let bound = HttpServer::new(move || App::new().app_data(data.clone()).route("/metrics", web::get().to(crate::http::metrics_endpoint)))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind((state.config.metrics_host.as_str(), state.config.metrics_port));
    match bound {
        Ok(server) => {
            tracing::info!(addr = %format!("{}:{}", state.config.metrics_host, state.config.metrics_port), "metrics listening on /metrics");
            actix_web::rt::spawn(server.run());
        }
        Err(e) => tracing::error!(
            error = %e,
            "metrics listener could not bind {}:{}; continuing without metrics (set metrics_port, or metrics_enabled = false)",
            state.config.metrics_host,
            state.config.metrics_port
        ),
    }
}

/// Periodic work that belongs to no single connection: held-back `subscription_count`
/// events and expiry of cached events.
async fn housekeeping(state: State) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        ticks += 1;
        for app in state.apps() {
            for (channel, count) in app.flush_subscription_counts() {
                state.webhooks.emit(&app.config(), || WebhookEvent::SubscriptionCount { channel, subscription_count: count });
            }
            if ticks % 60 == 0 {
                app.cache.sweep();
            }
        }
    }
}

/// Reloads the configuration (apps, TLS certificate) whenever the process receives SIGHUP.
async fn reload_on_sighup(state: State, load: Option<Loader>, cert: Option<Arc<ReloadableCert>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
    while hup.recv().await.is_some() {
        crate::reload::reload(&state, load.as_ref(), cert.as_deref());
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
