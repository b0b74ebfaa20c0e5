//! Deployment diagnostic: SIGTERM that can never arrive.
//!
//! With a shell-form entrypoint (`CMD ./agent`) PID 1 is `/bin/sh`, which does not forward
//! SIGTERM: the agent never hears the rollout, keeps taking calls until the grace period ends,
//! and every call in progress is cut by SIGKILL while delivery metrics show nothing (26 calls in
//! one measured rollout). Inside a container, the agent walks its ancestors and warns once when
//! it meets a shell or an npm-like launcher before a signal-forwarding init. It changes nothing
//! and never fails start-up.

use std::sync::atomic::{AtomicBool, Ordering};

const SWALLOWERS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "ash",
    "ksh",
    "zsh",
    "busybox",
    "npm",
    "npm-cli.js",
    "yarn",
    "pnpm",
    "npx",
];
const FORWARDERS: &[&str] = &[
    "tini",
    "dumb-init",
    "docker-init",
    "catatonit",
    "s6-svscan",
    "s6-supervise",
    "supervisord",
    "runsvdir",
    "runit",
];
/// Not our tree (the runtime's own PID 1 with a shared process namespace, or a host init).
const OUTSIDE: &[&str] = &["pause", "systemd", "launchd", "init"];
const MAX_CHAIN: usize = 12;

static WARNED: AtomicBool = AtomicBool::new(false);

fn names(cmdline: &[String]) -> Vec<String> {
    cmdline
        .iter()
        .take(2)
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
        .collect()
}

/// Walks `chain` (this process first, then its parent, …; each entry its argv) and returns the
/// name of the first ancestor that would swallow SIGTERM, stopping at an init that forwards it.
pub(crate) fn find_swallower(chain: &[Vec<String>]) -> Option<String> {
    for (i, cmdline) in chain.iter().take(MAX_CHAIN).enumerate() {
        let names = names(cmdline);
        if names.iter().any(|n| FORWARDERS.contains(&n.as_str())) {
            return None;
        }
        if names.iter().any(|n| OUTSIDE.contains(&n.as_str())) {
            return None;
        }
        if i > 0
            && let Some(n) = names.iter().find(|n| SWALLOWERS.contains(&n.as_str()))
        {
            return Some(n.clone());
        }
    }
    None
}

#[cfg(target_os = "linux")]
fn in_container() -> bool {
    let env = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if env("KUBERNETES_SERVICE_HOST")
        || env("ECS_CONTAINER_METADATA_URI_V4")
        || env("ECS_CONTAINER_METADATA_URI")
        || std::path::Path::new("/.dockerenv").exists()
    {
        return true;
    }
    std::fs::read_to_string("/proc/1/cgroup").is_ok_and(|c| {
        ["docker", "kubepods", "containerd", "ecs", "lxc"]
            .iter()
            .any(|m| c.contains(m))
    })
}

#[cfg(target_os = "linux")]
fn ancestor_chain() -> Vec<Vec<String>> {
    let read = |pid: u32| -> Option<(Vec<String>, u32)> {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let argv = raw
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        // "pid (comm) state ppid …": comm may hold spaces and parentheses, cut at the last ')'.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let tail = stat.get(stat.rfind(')')? + 1..)?;
        let ppid = tail.split_whitespace().nth(1)?.parse().ok()?;
        Some((argv, ppid))
    };
    let mut chain = Vec::new();
    let mut pid = std::process::id();
    for _ in 0..MAX_CHAIN {
        let Some((argv, ppid)) = read(pid) else { break };
        chain.push(argv);
        if ppid == 0 || ppid == pid {
            break;
        }
        pid = ppid;
    }
    chain
}

/// Warns (once per process) when, inside a container, SIGTERM would not reach this process.
pub(crate) fn warn_if_signals_blocked() {
    #[cfg(target_os = "linux")]
    {
        if WARNED.load(Ordering::Relaxed) || !in_container() {
            return;
        }
        if let Some(name) = find_swallower(&ancestor_chain())
            && !WARNED.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                ancestor = %name,
                "shutdown signals will not reach this process: its parent '{name}' does not \
                 forward SIGTERM. A rollout will cut every call in progress at SIGKILL. Use the \
                 exec form (ENTRYPOINT [\"/app/agent\"]) or an init such as tini/dumb-init."
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (&WARNED, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn shell_and_npm_parents_are_found_inits_are_not() {
        // PID 1 = /bin/sh -c ./agent
        assert_eq!(
            find_swallower(&[argv("/app/agent"), argv("/bin/sh -c /app/agent")]),
            Some("sh".into())
        );
        // node …/npm-cli.js start: the launcher's own name is reported.
        assert_eq!(
            find_swallower(&[argv("/app/agent"), argv("node /usr/lib/npm-cli.js")]),
            Some("npm-cli.js".into())
        );
        // tini forwards signals: a shell above it does not matter.
        assert_eq!(
            find_swallower(&[
                argv("/app/agent"),
                argv("/sbin/tini -- /app/agent"),
                argv("/bin/sh")
            ]),
            None
        );
        // Exec form: the agent is PID 1; the kubelet's pause container is not our tree.
        assert_eq!(find_swallower(&[argv("/app/agent")]), None);
        assert_eq!(find_swallower(&[argv("/app/agent"), argv("/pause")]), None);
        // The agent itself named like a shell is not its own parent.
        assert_eq!(find_swallower(&[argv("/usr/bin/bash")]), None);
    }
}
