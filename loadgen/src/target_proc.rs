//! `--target-pid PID` (Linux, same machine): the target process's CPU and resident memory, read
//! from `/proc/PID/stat` and `/proc/PID/statm` (through `procfs`) on `--scrape`'s clock, as the
//! series a Prometheus client would export ([`CPU_SERIES`], [`RSS_SERIES`]), so a target with no
//! metrics of its own still gives CPU evidence and the report reads it like a scrape.

use std::time::SystemTime;

use crate::scrape::{Kind, Probe, Sample};

/// User + system CPU seconds of the target (a counter), marked as read by loadgen.
pub const CPU_SERIES: &str = "process_cpu_seconds_total{source=\"target_pid\"}";
/// Resident memory of the target in bytes (a gauge), marked as read by loadgen.
pub const RSS_SERIES: &str = "process_resident_memory_bytes{source=\"target_pid\"}";

/// Why `--target-pid` cannot be sampled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetPidError {
    /// No process has that id (or it is not visible here).
    #[error("no process {0} on this machine (it must run here, and be visible in /proc)")]
    NoSuchProcess(u32),
    /// The process exists but its `/proc` files cannot be read.
    #[error("cannot read /proc/{pid}: {reason}")]
    Unreadable {
        /// The process id.
        pid: u32,
        /// What failed.
        reason: String,
    },
    /// Not Linux: no `/proc` to read.
    #[error("needs Linux (it reads /proc/PID); this is {0}")]
    NotLinux(&'static str),
}

/// The process `--target-pid` names, checked to exist; sampled once a second.
#[derive(Debug, Clone)]
pub struct TargetProc {
    pid: u32,
    /// The process's start, in clock ticks since boot: a reused id has another.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    started: u64,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    ticks_per_second: f64,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    page_size: u64,
}

/// One reading of the target: CPU seconds so far and resident bytes now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// User + system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub resident_bytes: f64,
}

impl Reading {
    /// The two samples of this reading, stamped `at`.
    pub fn samples(&self, at: SystemTime) -> [Sample; 2] {
        [
            Sample {
                at,
                series: CPU_SERIES.to_string(),
                kind: Kind::Counter,
                value: self.cpu_seconds,
            },
            Sample {
                at,
                series: RSS_SERIES.to_string(),
                kind: Kind::Gauge,
                value: self.resident_bytes,
            },
        ]
    }
}

impl TargetProc {
    /// The process `pid`, read once to check it exists and can be read.
    #[cfg(target_os = "linux")]
    pub fn open(pid: u32) -> Result<TargetProc, TargetPidError> {
        let stat = stat_of(pid)?;
        let target = TargetProc {
            pid,
            started: stat.starttime,
            ticks_per_second: procfs::ticks_per_second() as f64,
            page_size: procfs::page_size(),
        };
        target.read()?;
        Ok(target)
    }

    /// Not Linux: refused.
    #[cfg(not(target_os = "linux"))]
    pub fn open(_pid: u32) -> Result<TargetProc, TargetPidError> {
        Err(TargetPidError::NotLinux(std::env::consts::OS))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its CPU seconds and resident memory now; an error once it exited (or its id was reused).
    #[cfg(target_os = "linux")]
    pub fn read(&self) -> Result<Reading, TargetPidError> {
        let stat = stat_of(self.pid)?;
        if stat.starttime != self.started {
            return Err(TargetPidError::NoSuchProcess(self.pid));
        }
        let process = process_of(self.pid)?;
        let statm = process.statm().map_err(|e| proc_error(self.pid, e))?;
        Ok(Reading {
            cpu_seconds: (stat.utime + stat.stime) as f64 / self.ticks_per_second,
            resident_bytes: (statm.resident * self.page_size) as f64,
        })
    }

    /// Not Linux: never opened.
    #[cfg(not(target_os = "linux"))]
    pub fn read(&self) -> Result<Reading, TargetPidError> {
        Err(TargetPidError::NotLinux(std::env::consts::OS))
    }
}

impl Probe for TargetProc {
    fn sample(&mut self, at: SystemTime) -> Result<Vec<Sample>, String> {
        self.read()
            .map(|r| r.samples(at).to_vec())
            .map_err(|e| format!("--target-pid {}: {e}", self.pid))
    }
}

#[cfg(target_os = "linux")]
fn process_of(pid: u32) -> Result<procfs::process::Process, TargetPidError> {
    let id = i32::try_from(pid).map_err(|_| TargetPidError::NoSuchProcess(pid))?;
    procfs::process::Process::new(id).map_err(|e| proc_error(pid, e))
}

#[cfg(target_os = "linux")]
fn stat_of(pid: u32) -> Result<procfs::process::Stat, TargetPidError> {
    process_of(pid)?.stat().map_err(|e| proc_error(pid, e))
}

#[cfg(target_os = "linux")]
fn proc_error(pid: u32, e: procfs::ProcError) -> TargetPidError {
    match e {
        procfs::ProcError::NotFound(_) => TargetPidError::NoSuchProcess(pid),
        other => TargetPidError::Unreadable {
            pid,
            reason: other.to_string(),
        },
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_as_cpu_seconds_and_resident_bytes() {
        let me = TargetProc::open(std::process::id()).expect("this process");
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            std::hint::black_box(spin.elapsed());
        }
        let r = me.read().expect("readable");
        assert!(r.cpu_seconds > 0.0, "{r:?}");
        assert!(r.resident_bytes > 1e6, "{r:?}");
        let [cpu, rss] = r.samples(SystemTime::UNIX_EPOCH);
        assert_eq!((cpu.series.as_str(), cpu.kind), (CPU_SERIES, Kind::Counter));
        assert_eq!((rss.series.as_str(), rss.kind), (RSS_SERIES, Kind::Gauge));
    }

    #[test]
    fn a_missing_process_is_named() {
        // Above the kernel's pid_max ceiling (2^22), so no process can have it.
        let err = TargetProc::open(4_194_305).expect_err("no such process");
        assert_eq!(err, TargetPidError::NoSuchProcess(4_194_305));
    }
}
