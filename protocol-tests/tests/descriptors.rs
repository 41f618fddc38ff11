//! Descriptors, the resource every socket costs.
//!
//! Start-up prepares the process for many sockets: the open-file limit is raised to its
//! hard ceiling, and the kernel's descriptor table is grown before any client connects
//! (growing it later stalls `accept` for an RCU grace period each time it doubles).
//! Its own test binary: the checks read process-wide state no other test may disturb.
//!
//! A process that runs out of them anyway (a hard limit too low for its clients) says so,
//! naming the fix, keeps every open connection, and accepts again once some close.

use protocol_tests::harness::process::HeraldProcess;
use protocol_tests::{TestServer, WsClient};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use tokio::sync::mpsc;

fn open_file_limit() -> libc::rlimit {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    limit
}

/// The size of this process's descriptor table, as the kernel reports it.
fn descriptor_table_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("FDSize:")).expect("an FDSize line");
    line["FDSize:".len()..].trim().parse().expect("a number")
}

#[test]
fn start_up_raises_the_open_file_limit_and_grows_the_descriptor_table() {
    let hard = open_file_limit().rlim_max;
    // Start from the soft limit most systems give a shell.
    let lowered = libc::rlimit { rlim_cur: 1024.min(hard), rlim_max: hard };
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    let before = descriptor_table_size();
    assert!(before < 1024, "the table starts small in a test process (FDSize {before})");

    let _server = TestServer::start_default();

    assert_eq!(open_file_limit().rlim_cur, hard, "the soft limit is raised to the hard one");
    let expected = hard.min(1 << 16);
    let size = descriptor_table_size();
    assert!(size >= expected, "FDSize {size}, expected at least {expected}");
}

/// Descriptors the herald process below may hold: its own (epoll, signal pipes, listener)
/// and a few dozen sockets.
const SMALL_LIMIT: libc::rlim_t = 64;

const SMALL_CONFIG: &str = r#"
workers = 1
metrics_enabled = false
log = "warn"

[[apps]]
id = "1"
key = "descriptor-key"
secret = "descriptor-secret"
"#;

/// herald's log (its stdout), line by line.
fn log_lines(server: &mut HeraldProcess) -> mpsc::UnboundedReceiver<String> {
    let stdout = server.take_stdout().expect("stdout is piped");
    let (lines, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

#[tokio::test]
async fn out_of_descriptors_herald_says_so_keeps_its_connections_and_accepts_again_once_some_close() {
    let mut server = HeraldProcess::start_with(SMALL_CONFIG, |command| {
        command.stdout(Stdio::piped());
        // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: SMALL_LIMIT, rlim_max: SMALL_LIMIT };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
    });
    let mut lines = log_lines(&mut server);
    let addr = server.addr;

    // Connect until herald reports that it cannot accept: the connection then in flight
    // waits in the kernel's queue.
    let mut open = Vec::new();
    let waiting = 'exhausted: loop {
        assert!((open.len() as u64) < SMALL_LIMIT, "{} connections open and herald never said it ran out", open.len());
        let mut attempt = tokio::spawn(WsClient::connect_app(addr, "descriptor-key"));
        loop {
            tokio::select! {
                joined = &mut attempt => {
                    open.push(joined.expect("a connection made while descriptors remained is established"));
                    break;
                }
                line = lines.recv() => {
                    let line = line.expect("herald is running");
                    if line.contains("out of file descriptors") {
                        assert!(line.contains("ulimit -n") && line.contains("max_connections"), "the error names the fixes: {line}");
                        break 'exhausted attempt;
                    }
                }
            }
        }
    };
    assert!(open.len() > 10, "herald ran out after only {} connections", open.len());
    assert!(server.is_running(), "herald exited when it ran out of descriptors");

    // Every open connection is still served.
    for client in open.iter_mut() {
        client.ping_pong().await;
    }
    // Some close; the waiting connection is then accepted and established (within WAIT of
    // its start: herald retries every 500 ms).
    open.truncate(open.len() - 3);
    let mut accepted = waiting.await.expect("the waiting connection is established once descriptors are free");
    accepted.ping_pong().await;
    let mut another = WsClient::connect_app(addr, "descriptor-key").await;
    another.ping_pong().await;
}
