//! What the tool reads from and does to the operating system: a clock shared by every process
//! on the machine, CPU and memory samples from /proc, CPU pinning and the open-file limit.

use std::io;
use std::process::Command;
use std::time::Instant;

/// Nanoseconds on `CLOCK_MONOTONIC`: the same epoch for every process on this machine, so a
/// timestamp written by one process can be subtracted from a reading taken in another.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Seconds since the Unix epoch, for `auth_timestamp`.
pub fn unix_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// One reading of a process: CPU time used so far (all threads, user + system) and resident memory.
#[derive(Clone, Copy, Debug)]
pub struct ProcSample {
    pub cpu_secs: f64,
    pub rss_kb: u64,
    pub at: Instant,
}

impl ProcSample {
    /// Reads `/proc/{pid}/stat` and `/proc/{pid}/status`; `None` reads this process.
    pub fn read(pid: Option<u32>) -> io::Result<ProcSample> {
        let dir = match pid {
            Some(pid) => format!("/proc/{pid}"),
            None => "/proc/self".to_string(),
        };
        let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
        // The command name may contain spaces and parentheses: fields start after the last ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After ')' comes field 3 (state); utime and stime are fields 14 and 15.
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let cpu_secs = precise_cpu_secs(pid).unwrap_or_else(|| (ticks(11) + ticks(12)) as f64 / clock_ticks_per_sec());
        let status = std::fs::read_to_string(format!("{dir}/status"))?;
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        Ok(ProcSample { cpu_secs, rss_kb, at: Instant::now() })
    }

    /// The sum over several processes (the nodes of a cluster): CPU time and RSS added up.
    /// `None` when `pids` is empty or one cannot be read.
    pub fn read_sum(pids: &[u32]) -> io::Result<Option<ProcSample>> {
        let mut sum: Option<ProcSample> = None;
        for &pid in pids {
            let s = ProcSample::read(Some(pid))?;
            sum = Some(match sum {
                None => s,
                Some(t) => ProcSample { cpu_secs: t.cpu_secs + s.cpu_secs, rss_kb: t.rss_kb + s.rss_kb, at: s.at },
            });
        }
        Ok(sum)
    }

    /// CPU seconds used between `earlier` and this sample.
    pub fn cpu_since(&self, earlier: &ProcSample) -> f64 {
        (self.cpu_secs - earlier.cpu_secs).max(0.0)
    }

    /// CPU use between the two samples as a percentage of one core.
    pub fn cpu_pct_since(&self, earlier: &ProcSample) -> f64 {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        if wall > 0.0 {
            100.0 * self.cpu_since(earlier) / wall
        } else {
            0.0
        }
    }
}

/// A process's CPU time (all threads, user + system, exited threads included) to the
/// nanosecond, from its CPU-time clock. `/proc/{pid}/stat` reports the same total rounded to
/// clock ticks (10 ms): ±2% of a window in which a server uses half a second of CPU, which
/// was a good part of the spread between runs at low load.
fn precise_cpu_secs(pid: Option<u32>) -> Option<f64> {
    let clock = match pid {
        None => libc::CLOCK_PROCESS_CPUTIME_ID,
        Some(pid) => {
            let mut clock: libc::clockid_t = 0;
            // SAFETY: `clock` is a valid place for the id; an unknown pid is an error return.
            if unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) } != 0 {
                return None;
            }
            clock
        }
    };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; a clock that went away is an error return.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Pins the calling thread, and every thread it starts afterwards, to one CPU. Called before
/// the runtime starts so the whole load generator lives on that core.
pub fn pin_self(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within its bounds for
    // cpu < CPU_SETSIZE, which sched_setaffinity then checks against the machine.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("CPU {cpu} is out of range")));
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Pins every thread of a running process to one CPU (`taskset -a -cp CPU PID`).
pub fn pin_pid(pid: u32, cpu: usize) -> io::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-cp", &cpu.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("taskset -a -cp {cpu} {pid} failed ({status})")))
    }
}

/// Raises the soft open-file limit to the hard limit and returns it; children inherit it.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return lim.rlim_max;
            }
        }
        lim.rlim_cur
    }
}

/// Lets many sockets bound to the same local address share ephemeral ports per destination
/// (the port is chosen at connect time, not at bind time).
pub fn bind_address_no_port(fd: std::os::fd::RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: `fd` is an open socket owned by the caller; the option value is a c_int.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_process_cpu_time_is_read_to_below_a_clock_tick() {
        // A child that burns CPU for a while, read from outside as the tool reads a server.
        let mut child = Command::new("sh").args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"]).spawn().expect("spawn sh");
        let pid = child.id();
        let first = precise_cpu_secs(Some(pid)).expect("the child's CPU clock");
        let mut last = first;
        while child.try_wait().expect("poll the child").is_none() {
            if let Some(now) = precise_cpu_secs(Some(pid)) {
                last = now;
            }
        }
        assert!(last > first, "the reading advances while the child runs ({first} → {last})");
        let fraction = (last * 100.0).fract();
        // Tick-based accounting would only ever show whole hundredths of a second.
        assert!(last > 0.0 && (fraction > 1e-6 && fraction < 1.0 - 1e-6), "not a whole number of ticks: {last}");
        assert!(precise_cpu_secs(None).is_some_and(|s| s > 0.0), "this process's own CPU clock");
        assert_eq!(precise_cpu_secs(Some(pid)), None, "a reaped process has no clock to read");
    }
}
