//! The readiness marker file (`CLAWOPS_READY_FILE`).
//!
//! A Kubernetes `exec` readiness probe (`cat /tmp/clawops-ready`) passes only while the file
//! exists. The agent writes it when it is connected and owns its number's slot, and removes it
//! on takeover, drain and disconnect. A marker left behind by a SIGKILLed process (a shared
//! `emptyDir` outlives the container) would make the new pod Ready before it is connected
//! (measured ~12 s early), so the marker is removed at start-up, before anything else.

use std::path::{Path, PathBuf};

/// The environment variable naming the marker path; an empty value disables the marker.
pub const READY_FILE_ENV: &str = "CLAWOPS_READY_FILE";
/// The marker's file name in the temp directory when `CLAWOPS_READY_FILE` is unset.
pub const DEFAULT_READY_FILE_NAME: &str = "clawops-ready";

/// The readiness marker: a path, or disabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyFile {
    path: Option<PathBuf>,
}

impl ReadyFile {
    /// From `CLAWOPS_READY_FILE`: unset → `clawops-ready` in the temp directory (`/tmp` on
    /// Linux), empty → disabled, anything else → that path.
    pub fn from_env() -> Self {
        match std::env::var_os(READY_FILE_ENV) {
            None => Self::at(std::env::temp_dir().join(DEFAULT_READY_FILE_NAME)),
            Some(v) if v.is_empty() => Self::disabled(),
            Some(v) => Self::at(PathBuf::from(v)),
        }
    }

    /// A marker at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
        }
    }

    /// No marker.
    pub fn disabled() -> Self {
        Self { path: None }
    }

    /// The path (`None` when disabled).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Removes a marker left by an earlier process. Call it first thing in `main` when start-up
    /// is slow; the agent also does it when it is built and on every `connect()`. Returns
    /// whether a stale marker was removed. Never fails: a read-only file system only logs.
    ///
    /// ```no_run
    /// // First line of main(), before heavy initialisation:
    /// clawops::agent::ops::ReadyFile::from_env().clear_stale();
    /// ```
    pub fn clear_stale(&self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        match std::fs::remove_file(path) {
            Ok(()) => {
                tracing::warn!(
                    path = %path.display(),
                    "removed a stale readiness marker left by an earlier process"
                );
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "could not remove the readiness marker");
                false
            }
        }
    }

    /// Writes `pid=<pid> since=<unix seconds>\n`. A failure is a warning: start-up continues,
    /// but a readiness probe on this file will never pass.
    pub(crate) fn write(&self) {
        let Some(path) = &self.path else { return };
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let content = format!("pid={} since={since}\n", std::process::id());
        if let Err(error) = std::fs::write(path, content) {
            tracing::warn!(
                path = %path.display(),
                %error,
                "could not write the readiness marker: a readiness probe on it will never pass \
                 (mount a writable volume or set CLAWOPS_READY_FILE)"
            );
        }
    }

    /// Removes the marker (not ready any more).
    pub(crate) fn remove(&self) {
        let Some(path) = &self.path else { return };
        if let Err(error) = std::fs::remove_file(path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::debug!(path = %path.display(), %error, "could not remove the readiness marker");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_clear_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready");
        let marker = ReadyFile::at(&path);
        assert!(!marker.clear_stale());
        marker.write();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!("pid={} since=", std::process::id())));
        assert!(text.ends_with('\n'));
        assert!(marker.clear_stale());
        assert!(!path.exists());
        marker.write();
        marker.remove();
        assert!(!path.exists());
        marker.remove(); // idempotent
        ReadyFile::disabled().write();
        assert_eq!(ReadyFile::disabled().path(), None);
    }
}
