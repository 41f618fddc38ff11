//! herald as a separate process: for what only a real process shows (the command line, exit
//! codes, what it prints, limits set on the process).
//!
//! The binary is not built by `cargo test -p protocol-tests`; run `cargo build` first, or point
//! `HERALD_BIN` at one.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server process may take to accept connections.
pub const PROCESS_WAIT: Duration = Duration::from_secs(10);

/// The herald binary: `HERALD_BIN`, or the workspace's debug build.
pub fn herald_bin() -> PathBuf {
    let path = std::env::var_os("HERALD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/herald"));
    assert!(
        path.is_file(),
        "the herald binary is missing at {}: run `cargo build` in the workspace first (or set HERALD_BIN)",
        path.display()
    );
    path
}

/// A command for the herald binary with no `HERALD_*` variable of the test environment.
pub fn herald_command() -> Command {
    let mut command = Command::new(herald_bin());
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("HERALD_")) {
        command.env_remove(name);
    }
    command
}

/// A temporary file removed on drop.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("herald-test-{}.toml", rand::random::<u64>()));
        std::fs::write(&path, contents).expect("write a temp file");
        TempFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A herald server process on a free port of 127.0.0.1, killed on drop.
pub struct HeraldProcess {
    pub addr: SocketAddr,
    /// The config file it runs with.
    pub config: TempFile,
    child: Child,
}

impl HeraldProcess {
    /// Starts `herald serve` with `config` (TOML without `host` and `port`, which are set
    /// here); its output is discarded.
    pub fn start(config: &str) -> HeraldProcess {
        HeraldProcess::start_with(config, |_| {})
    }

    /// Like [`HeraldProcess::start`], with `prepare` applied to the command last (to keep
    /// its output, or to set a limit on the process).
    pub fn start_with(config: &str, prepare: impl Fn(&mut Command)) -> HeraldProcess {
        // A port freed just before the start can be taken meanwhile; then try another.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let config = TempFile::new(&format!("host = \"127.0.0.1\"\nport = {port}\n{config}"));
            let mut command = herald_command();
            command.args(["serve", "--config", config.path()]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            prepare(&mut command);
            let child = command.spawn().expect("spawn the herald server");
            let mut server = HeraldProcess { addr: SocketAddr::from(([127, 0, 0, 1], port)), config, child };
            if server.wait_until_listening() {
                return server;
            }
        }
        panic!("herald did not start listening on three free ports");
    }

    /// True once the port accepts connections; false if the process exited first.
    fn wait_until_listening(&mut self) -> bool {
        let deadline = Instant::now() + PROCESS_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!("herald exited during start-up with {status}");
                return false;
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("herald did not listen on {} within {PROCESS_WAIT:?}", self.addr);
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process's stdout (the banner, then the log), when `prepare` piped it; once.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for HeraldProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
