//! SIGINT/SIGTERM during a run, as k6 stops: no new requests, a grace for those in flight, a
//! second signal cuts them, and the exit code says which signal ended the run.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Longest grace the requests in flight get after the first SIGINT/SIGTERM (k6's graceful stop):
/// `--timeout` when shorter.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Exit code of a run cut by SIGINT.
pub const EXIT_SIGINT: u8 = 130;
/// Exit code of a run cut by SIGTERM.
pub const EXIT_SIGTERM: u8 = 143;

/// Stops the run on SIGINT (Ctrl-C) or SIGTERM as k6 does, and remembers which signal, for the
/// exit code (130 or 143, as shells report a process killed by that signal): `stop` ends sending
/// at once; the requests in flight get `grace` to finish, then `cut` abandons them (counted as
/// `in_flight_at_end`, not as failures); a second signal cuts at once. The handlers are
/// registered before this returns, so a signal sent once traffic flows is never missed.
pub(crate) fn stop_on_signal(
    stop: CancellationToken,
    cut: CancellationToken,
    grace: std::time::Duration,
    exit: Arc<AtomicU8>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let announce = move || {
        eprintln!(
            "loadgen: stopping: no new requests; those in flight get up to {} to finish \
             (press Ctrl-C again to cut them now)",
            humantime::format_duration(grace)
        );
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(tokio::spawn(async move {
            let code = tokio::select! {
                _ = int.recv() => EXIT_SIGINT,
                _ = term.recv() => EXIT_SIGTERM,
            };
            exit.store(code, Ordering::SeqCst);
            stop.cancel();
            announce();
            tokio::select! {
                _ = tokio::time::sleep(grace) => {}
                _ = int.recv() => eprintln!("loadgen: second signal: cutting the requests in flight"),
                _ = term.recv() => eprintln!("loadgen: second signal: cutting the requests in flight"),
            }
            cut.cancel();
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                exit.store(EXIT_SIGINT, Ordering::SeqCst);
                stop.cancel();
                announce();
                tokio::select! {
                    _ = tokio::time::sleep(grace) => {}
                    _ = tokio::signal::ctrl_c() => eprintln!("loadgen: second signal: cutting the requests in flight"),
                }
                cut.cancel();
            }
        }))
    }
}
