//! SIGINT/SIGTERM during a run, as k6 stops: no new requests, a grace for those in flight, a
//! second signal cuts them, and the exit code says which signal ended the run. The dashboard's
//! Stop button goes through the same path ([`StopRequest`]), so it stops exactly as SIGINT does.

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

/// The signal an exit code stands for: `SIGTERM` for [`EXIT_SIGTERM`], else `SIGINT` (Ctrl-C,
/// and the dashboard's Stop button, which stops as it does).
pub fn name(code: u8) -> &'static str {
    if code == EXIT_SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

/// Asks the run to stop as a signal would, with that signal's exit code (the dashboard's Stop
/// button sends [`EXIT_SIGINT`]): a first request stops sending, a second cuts the requests in
/// flight at once.
#[derive(Debug, Clone)]
pub struct StopRequest(tokio::sync::mpsc::UnboundedSender<u8>);

impl StopRequest {
    /// Stops the run as the signal whose exit code is `code` would.
    pub fn stop(&self, code: u8) {
        // The receiver lives as long as the handler task; once the run is over, nothing to stop.
        let _ = self.0.send(code);
    }
}

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
) -> std::io::Result<(tokio::task::JoinHandle<()>, StopRequest)> {
    let (tx, mut requests) = tokio::sync::mpsc::unbounded_channel::<u8>();
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
        let task = tokio::spawn(async move {
            let code = tokio::select! {
                _ = int.recv() => EXIT_SIGINT,
                _ = term.recv() => EXIT_SIGTERM,
                Some(code) = requests.recv() => code,
            };
            exit.store(code, Ordering::SeqCst);
            stop.cancel();
            announce();
            tokio::select! {
                _ = tokio::time::sleep(grace) => {}
                _ = int.recv() => eprintln!("loadgen: second signal: cutting the requests in flight"),
                _ = term.recv() => eprintln!("loadgen: second signal: cutting the requests in flight"),
                Some(_) = requests.recv() => eprintln!("loadgen: second stop: cutting the requests in flight"),
            }
            cut.cancel();
        });
        Ok((task, StopRequest(tx)))
    }
    #[cfg(not(unix))]
    {
        let task = tokio::spawn(async move {
            let code = tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok().then_some(EXIT_SIGINT),
                Some(code) = requests.recv() => Some(code),
            };
            if let Some(code) = code {
                exit.store(code, Ordering::SeqCst);
                stop.cancel();
                announce();
                tokio::select! {
                    _ = tokio::time::sleep(grace) => {}
                    _ = tokio::signal::ctrl_c() => eprintln!("loadgen: second signal: cutting the requests in flight"),
                    Some(_) = requests.recv() => eprintln!("loadgen: second stop: cutting the requests in flight"),
                }
                cut.cancel();
            }
        });
        Ok((task, StopRequest(tx)))
    }
}
