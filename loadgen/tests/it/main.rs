//! loadgen's integration tests, one binary with a module per concern (as cargo's own
//! `tests/testsuite/main.rs`): each `tests/*.rs` file would be a binary of its own, linking
//! tokio, axum, hyper, reqwest and loadgen again, which dominated the test build.
//!
//! None of these needs a process of its own; the one other test binary, `tests/thinking_users.rs`,
//! holds 10,000 sockets and says at its top why it runs apart. Every module that runs a
//! load drives the real `loadgen` binary as a child process, so its runtime, signal handlers and
//! stdout are that child's, never this harness's; `ctrl_c` signals those children by PID
//! (`kill -INT <pid>`), never this process or its group. Targets bind 127.0.0.1:0, and output
//! directories are unique per process and call ([`common::out_dir`]), so modules running at once
//! cannot collide. A test that one day needs process-wide state (an environment variable, the
//! working directory, a signal sent to its own process) belongs in a `tests/NAME.rs` of its own,
//! saying why at its top.

mod close_between;
mod common;

mod ctrl_c;
mod dashboard;
mod edge;
mod gate;
mod https;
mod lockstep;
mod merge;
mod newcomer;
mod open_loop;
mod outcomes;
mod output_files;
mod parsers;
mod protocol;
mod ramps;
mod refusals;
mod report;
mod retry_after;
mod second_pass;
mod sessions;
mod steps;
mod target_pid;
mod traffic;
mod uncounted;
mod verify;
