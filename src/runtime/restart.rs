//! Restart policies (`--restart no|on-failure[:N]|always|unless-stopped`),
//! applied by the shim when the container's process ends. A container
//! stopped by `stop` (or removed with `rm -f`) is not restarted: the
//! command leaves a `stop-requested` marker in the container's directory
//! for the shim to find. Restarts back off like Docker's: 100 ms, doubling
//! after each quick failure, at most a minute, back to 100 ms once the
//! process has run for 10 s.

pub use crate::store::container::RestartPolicy;

use std::path::{Path, PathBuf};
use std::time::Duration;

impl RestartPolicy {
    /// Parses Docker's syntax.
    pub fn parse(s: &str) -> Result<RestartPolicy, super::RuntimeError> {
        let bad = || super::RuntimeError::BadRestart(s.to_string());
        Ok(match s.split_once(':') {
            None => match s {
                "no" | "" => RestartPolicy::No,
                "on-failure" => RestartPolicy::OnFailure { max: 0 },
                "always" => RestartPolicy::Always,
                "unless-stopped" => RestartPolicy::UnlessStopped,
                _ => return Err(bad()),
            },
            Some(("on-failure", n)) => RestartPolicy::OnFailure {
                max: n.parse().map_err(|_| bad())?,
            },
            Some(_) => return Err(bad()),
        })
    }

    /// Docker's name for it.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// The retry limit (on-failure only).
    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max } => *max,
            _ => 0,
        }
    }

    /// Whether an exit with `code`, after `restarts` restarts, starts the
    /// process again (`stopped`: the user asked it to stop).
    pub fn should_restart(&self, code: i32, restarts: u32, stopped: bool) -> bool {
        if stopped {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure { max } => code != 0 && (*max == 0 || restarts < *max),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

/// The next delay: reset after a long run, else double (100 ms .. 60 s).
pub fn next_delay(prev: Duration, ran_for: Duration) -> Duration {
    if ran_for >= Duration::from_secs(10) || prev.is_zero() {
        Duration::from_millis(100)
    } else {
        (prev * 2).min(Duration::from_secs(60))
    }
}

/// The marker `stop` leaves for the shim.
pub fn stop_marker(dir: &Path) -> PathBuf {
    dir.join("stop-requested")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_decide_like_docker() {
        let p = RestartPolicy::parse("on-failure:2").unwrap();
        assert!(p.should_restart(1, 0, false));
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(RestartPolicy::parse("always")
            .unwrap()
            .should_restart(0, 99, false));
        assert!(!RestartPolicy::parse("always")
            .unwrap()
            .should_restart(0, 0, true));
        assert!(!RestartPolicy::parse("no")
            .unwrap()
            .should_restart(1, 0, false));
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(RestartPolicy::parse("on-failure:x").is_err());
        assert_eq!(
            next_delay(Duration::from_millis(100), Duration::ZERO),
            Duration::from_millis(200)
        );
        assert_eq!(
            next_delay(Duration::from_millis(400), Duration::from_secs(11)),
            Duration::from_millis(100)
        );
    }
}
