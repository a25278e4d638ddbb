//! Where `nickpool bench` runs the daemon and its clients.
//!
//! With `--pin` (and always with `--sweep`), each producer thread of the
//! bench's own daemon gets a CPU of its own (the daemon process is
//! restricted to the first P CPUs the bench may use, before it starts), and
//! each client thread another one (the worker threads pin themselves with
//! `sched_setaffinity`). With `--attach`, the daemon stays where it is and
//! the client threads go to CPUs outside its affinity. Where the host has
//! too few CPUs for that, nothing is pinned and the report says so.

use super::Config;
use nickpool::Client;
use nickpool_server::bench::affinity;
use nickpool_server::daemon::{default_producers, default_shards};

/// CPUs for the daemon and each client thread; `None` leaves them to the
/// scheduler.
pub struct Placement {
    /// CPUs of the bench's own daemon (all its threads).
    pub daemon: Option<Vec<usize>>,
    /// Per worker process, one CPU per thread.
    pub clients: Option<Vec<Vec<usize>>>,
    /// What was done, in words, for the report.
    pub note: String,
}

fn unpinned(note: String) -> Placement {
    Placement {
        daemon: None,
        clients: None,
        note,
    }
}

/// Splits `cpus` into one CPU per thread of each worker process.
fn per_process(config: &Config, cpus: &[usize]) -> Vec<Vec<usize>> {
    cpus.chunks(config.threads as usize)
        .take(config.procs as usize)
        .map(<[usize]>::to_vec)
        .collect()
}

/// Where to run the daemon and the clients of one run.
pub fn plan(config: &Config, attached: Option<&Client>) -> Placement {
    if !config.pin {
        return unpinned("unpinned".into());
    }
    let clients = (config.procs * config.threads) as usize;
    let Some(cpus) = affinity::allowed(0) else {
        return unpinned("unpinned: the CPUs this process may use are unknown".into());
    };
    match attached {
        None => {
            let shards = config
                .shards
                .unwrap_or_else(|| default_shards(config.capacity));
            let producers = config
                .producers
                .unwrap_or_else(|| default_producers(shards)) as usize;
            if cpus.len() < producers + clients {
                return unpinned(format!(
                    "unpinned: {} CPUs, fewer than the daemon's {producers} producer thread{} and {clients} client thread{} need",
                    cpus.len(),
                    if producers == 1 { "" } else { "s" },
                    if clients == 1 { "" } else { "s" },
                ));
            }
            let (daemon, rest) = cpus.split_at(producers);
            let rest = &rest[..clients];
            Placement {
                note: format!(
                    "pinned: daemon on CPU {}, client threads on CPU {}",
                    affinity::describe(daemon),
                    affinity::describe(rest)
                ),
                daemon: Some(daemon.to_vec()),
                clients: Some(per_process(config, rest)),
            }
        }
        Some(client) => {
            let daemon_cpus = client
                .stats()
                .ok()
                .and_then(|s| affinity::allowed(s.daemon_pid))
                .unwrap_or_default();
            let free: Vec<usize> = cpus
                .iter()
                .copied()
                .filter(|c| !daemon_cpus.contains(c))
                .collect();
            if daemon_cpus.is_empty() || free.len() < clients {
                return unpinned(format!(
                    "unpinned: the attached daemon may run on CPU {}, which leaves {} CPUs for {clients} client thread{}; \
                     restrict it (taskset) to leave room",
                    if daemon_cpus.is_empty() {
                        "(unknown)".to_owned()
                    } else {
                        affinity::describe(&daemon_cpus)
                    },
                    free.len(),
                    if clients == 1 { "" } else { "s" },
                ));
            }
            let rest = &free[..clients];
            Placement {
                note: format!(
                    "pinned: attached daemon on its CPU {}, client threads on CPU {}",
                    affinity::describe(&daemon_cpus),
                    affinity::describe(rest)
                ),
                daemon: None,
                clients: Some(per_process(config, rest)),
            }
        }
    }
}
