//! Stop requests from signals, for the commands that apply: Ctrl-C (SIGINT), SIGTERM (what
//! systemd and Kubernetes send) and SIGHUP (a terminal or an ssh session that went away).
//! Each asks the run to stop at its next checkpoint; a second Ctrl-C or SIGTERM exits at
//! once. Nothing here decides what a stop does to a run: that is the executor's.

use std::future::pending;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Why a stop was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Ctrl-C or SIGTERM: someone (a person, a service manager) asked.
    Asked,
    /// SIGHUP: the terminal went away. It comes more than once for one hangup (from the
    /// kernel to the terminal's foreground group, and again from the shell that ends), so
    /// a repeated one is no second request.
    HungUp,
}

/// The signals listened to, from [`Requests::listen`] on.
#[derive(Debug)]
pub struct Requests {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
    hangup: Option<Signal>,
}

impl Requests {
    /// Listens from now on: a signal that comes before the first [`Requests::next`] waits
    /// for it, and SIGHUP no longer ends dbpm as it does by default (unless it was ignored,
    /// under `nohup`: then it stays ignored). A signal that cannot be
    /// listened to (the runtime refused) keeps its default. Inside a Tokio runtime.
    pub fn listen() -> Requests {
        Requests {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
            hangup: if hangup_ignored() {
                None
            } else {
                signal(SignalKind::hangup()).ok()
            },
        }
    }

    /// The next request.
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            () = received(&mut self.interrupt) => Request::Asked,
            () = received(&mut self.terminate) => Request::Asked,
            () = received(&mut self.hangup) => Request::HungUp,
        }
    }

    /// The next request that is not a hangup: a second request after a first one.
    pub async fn next_asked(&mut self) {
        while self.next().await == Request::HungUp {}
    }
}

/// Whether dbpm was started with SIGHUP ignored (`nohup`): a run started so is meant to
/// outlive its terminal, and goes on as it did. Read from `/proc` (Linux); where it cannot
/// be, SIGHUP is taken as not ignored.
fn hangup_ignored() -> bool {
    let Ok(status) = fs_err::read_to_string("/proc/self/status") else {
        return false;
    };
    let ignored = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok());
    // Signal n is bit n - 1; SIGHUP is signal 1.
    ignored.is_some_and(|mask| mask & 1 != 0)
}

/// Returns when `signal` comes; never when it is not listened to.
async fn received(signal: &mut Option<Signal>) {
    if let Some(signal) = signal {
        if signal.recv().await.is_some() {
            return;
        }
    }
    pending().await
}
