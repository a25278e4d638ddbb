//! Which CPUs a thread or process may run on (Linux `sched_setaffinity`),
//! for placing `nickpool bench`'s daemon and clients on CPUs of their own
//! and pinning the cache-line ping-pong.

/// A CPU set holding `cpus` (those at or above `CPU_SETSIZE` are left out).
fn set_of(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes one
    // bit of it, for a CPU number below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        set
    }
}

/// Restricts the calling thread to `cpus`. Returns whether it worked.
/// Async-signal-safe (one system call on a set built beforehand), so it may
/// also run between `fork` and `exec`.
pub fn restrict_to(set: &libc::cpu_set_t) -> bool {
    // SAFETY: sched_setaffinity(0, ..) applies to the calling thread and
    // only reads the set.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

/// The CPU set for `cpus`, to hand to [`restrict_to`] later.
pub fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    set_of(cpus)
}

/// Pins the calling thread to `cpu`. Returns whether it worked.
pub fn pin_to(cpu: usize) -> bool {
    restrict_to(&set_of(&[cpu]))
}

/// Lets the calling thread run on every CPU again.
pub fn unpin() {
    let all: Vec<usize> = (0..libc::CPU_SETSIZE as usize).collect();
    restrict_to(&set_of(&all));
}

/// The CPUs process (or thread) `pid` may run on, ascending; `0` means the
/// calling thread. `None` if the kernel will not say.
pub fn allowed(pid: u32) -> Option<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity writes it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(
            pid as libc::pid_t,
            std::mem::size_of::<libc::cpu_set_t>(),
            &mut set,
        ) != 0
        {
            return None;
        }
        set
    };
    Some(
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| {
                // SAFETY: `cpu` is below CPU_SETSIZE; CPU_ISSET only reads.
                unsafe { libc::CPU_ISSET(cpu, &set) }
            })
            .collect(),
    )
}

/// `0-3,8,10-11` for `[0, 1, 2, 3, 8, 10, 11]`.
pub fn describe(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_runs_somewhere_and_ranges_read_well() {
        let cpus = allowed(0).unwrap();
        assert!(!cpus.is_empty());
        assert!(pin_to(cpus[0]));
        assert_eq!(allowed(0).unwrap(), [cpus[0]]);
        unpin();
        assert_eq!(allowed(0).unwrap(), cpus);
        assert_eq!(describe(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(describe(&[]), "");
    }
}
