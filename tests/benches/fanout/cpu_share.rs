//! The CPU a deployed function gets: Lambda gives CPU in proportion to memory, one vCPU
//! at 1,769 MB (docs/benchmarks.md, "As deployed"), so 256 MB gets about 0.145 of one.
//! A worker process is held to that share by a CFS quota in a CPU cgroup of its own
//! (cgroup v1 `cpu.cfs_quota_us`, or v2 `cpu.max`, whichever the machine mounts;
//! `cgroups-rs` writes either), removed when the share is dropped.

use cgroups_rs::cgroup::Cgroup;
use cgroups_rs::cpu::CpuController;
use cgroups_rs::{CgroupPid, Controller};

/// Memory (MB) at which Lambda gives one full vCPU.
pub const MB_PER_VCPU: f64 = 1_769.0;
/// The quota's period.
const PERIOD_US: u64 = 100_000;

/// The quota, in microseconds per [`PERIOD_US`], for a function of `memory_mb` (pure).
pub fn quota_us(memory_mb: u64) -> i64 {
    ((memory_mb as f64 / MB_PER_VCPU) * PERIOD_US as f64)
        .round()
        .max(1_000.0) as i64
}

/// The share of one CPU a function of `memory_mb` gets (pure).
pub fn share(memory_mb: u64) -> f64 {
    memory_mb as f64 / MB_PER_VCPU
}

/// A CPU cgroup holding what joins it to one memory size's share.
pub struct CpuShare {
    cgroup: Cgroup,
    pub memory_mb: u64,
}

impl CpuShare {
    /// A new cgroup with the quota of `memory_mb`, or why this machine cannot make one
    /// (not root, no CPU controller mounted).
    pub fn for_memory(memory_mb: u64) -> Result<CpuShare, String> {
        let name = format!("mb-bench-{}-{memory_mb}", std::process::id());
        let cgroup = Cgroup::new_with_specified_controllers(
            cgroups_rs::hierarchies::auto(),
            &name,
            Some(vec!["cpu".to_owned()]),
        )
        .map_err(|e| format!("cannot create the CPU cgroup {name}: {e}"))?;
        let made = CpuShare { cgroup, memory_mb };
        let cpu: &CpuController = made
            .cgroup
            .controller_of()
            .ok_or_else(|| format!("the cgroup {name} has no CPU controller"))?;
        cpu.set_cfs_quota_and_period(Some(quota_us(memory_mb)), Some(PERIOD_US))
            .map_err(|e| format!("cannot set the CPU quota of {name}: {e}"))?;
        // Read back: a quota that did not take would measure a whole core.
        let path = cpu.path().to_path_buf();
        let set = std::fs::read_to_string(path.join("cpu.cfs_quota_us"))
            .or_else(|_| std::fs::read_to_string(path.join("cpu.max")))
            .map_err(|e| format!("cannot read back the CPU quota of {name}: {e}"))?;
        if !set.contains(&quota_us(memory_mb).to_string()) {
            return Err(format!(
                "the CPU quota of {name} reads {set:?}, not {}",
                quota_us(memory_mb)
            ));
        }
        Ok(made)
    }

    /// Moves the process `pid` (all its threads) into the share.
    pub fn join(&self, pid: u32) -> Result<(), String> {
        self.cgroup
            .add_task_by_tgid(CgroupPid::from(u64::from(pid)))
            .map_err(|e| format!("cannot move process {pid} into the CPU cgroup: {e}"))
    }
}

impl Drop for CpuShare {
    fn drop(&mut self) {
        // Its processes have exited by now; a cgroup that still holds one stays behind.
        let _ = self.cgroup.delete();
    }
}
