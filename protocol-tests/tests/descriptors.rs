//! Start-up prepares the process for many sockets: the open-file limit is raised to its
//! hard ceiling, and the kernel's descriptor table is grown before any client connects
//! (growing it later stalls `accept` for an RCU grace period each time it doubles).
//! Its own test binary: the checks read process-wide state no other test may disturb.

use protocol_tests::TestServer;

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
