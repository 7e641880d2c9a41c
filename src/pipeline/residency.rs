//! Which graphs stay loaded between pictures, within a memory budget.
//!
//! Held, a graph costs its weights in memory all the time; not held, it is
//! loaded for its stage (streamed segment by segment if stored in segments)
//! and freed after, which costs its load time in every picture. The denoiser
//! runs at every step, so it is held first; then the other graphs, smallest
//! first, while the held graphs' files fit the budget. When not even the
//! denoiser fits, nothing is held (the low-memory mode). The default budget
//! is half of the memory this process may use (the machine's, or its
//! cgroup's limit if lower): an SD-Turbo-size bundle (denoiser 870 MB, text
//! encoder 342 MB) then holds everything on a 4 GB board and only the
//! denoiser on a 2 GB one; the shipped model's few MB are always held.

use super::models::{spec, Component};
use crate::bundle::Bundle;

/// How much of its graphs a pipeline may hold loaded between pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Memory {
    /// Half of the memory this process may use ([`usable_memory_bytes`]).
    #[default]
    Auto,
    /// At most this many bytes of graph files.
    Budget(u64),
    /// Nothing: every graph is loaded for its stage (streamed if stored in
    /// segments), and freed memory is given back to the system at once.
    Low,
}

/// The components to hold, in pipeline order, and the budget that chose them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub held: Vec<Component>,
    pub budget: Option<u64>,
}

pub const ALL: [Component; 3] = [Component::TextEncoder, Component::Denoiser, Component::Decoder];

/// Decide what to hold of `bundle` under `memory`.
pub fn plan(bundle: &Bundle, memory: Memory) -> Plan {
    let budget = match memory {
        Memory::Low => return Plan { held: Vec::new(), budget: Some(0) },
        Memory::Budget(bytes) => Some(bytes),
        Memory::Auto => usable_memory_bytes().map(|b| b / 2),
    };
    let held = match budget {
        // Nothing known of the machine: hold everything, as before budgets.
        None => ALL.to_vec(),
        Some(budget) => choose(&ALL.map(|c| (c, graph_bytes(bundle, c))), budget),
    };
    Plan { held, budget }
}

/// The denoiser first, then the others smallest first, while they fit.
pub fn choose(sizes: &[(Component, u64)], budget: u64) -> Vec<Component> {
    let denoiser = sizes.iter().find(|(c, _)| *c == Component::Denoiser).map(|(_, b)| *b).unwrap_or(0);
    if denoiser > budget {
        return Vec::new();
    }
    let mut others: Vec<&(Component, u64)> = sizes.iter().filter(|(c, _)| *c != Component::Denoiser).collect();
    others.sort_by_key(|(_, bytes)| *bytes);
    let mut used = denoiser;
    let mut held = vec![Component::Denoiser];
    for &&(c, bytes) in &others {
        if used + bytes <= budget {
            used += bytes;
            held.push(c);
        }
    }
    ALL.into_iter().filter(|c| held.contains(c)).collect()
}

/// Bytes of a component's graph files (every segment and external-data file).
pub fn graph_bytes(bundle: &Bundle, which: Component) -> u64 {
    let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    spec(bundle, which)
        .files(bundle)
        .iter()
        .map(|f| {
            let data = f.data.as_ref().map(|d| size(&f.path.with_file_name(d))).unwrap_or(0);
            size(&f.path) + data
        })
        .sum()
}

/// The memory this process may use: the machine's (`MemTotal`), or its
/// cgroup's limit if lower (a container, a systemd `MemoryMax=`; cgroup v2
/// `memory.max` or v1 `memory.limit_in_bytes`, of its group and the groups
/// above). None where nothing can be read (not Linux).
pub fn usable_memory_bytes() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| mem_total_bytes(&s));
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let limits = cgroup_limit_files(&own).into_iter().filter_map(|f| {
        std::fs::read_to_string(f).ok().and_then(|s| s.trim().parse::<u64>().ok())
    });
    total.into_iter().chain(limits).min()
}

/// The limit files that apply to the process whose `/proc/self/cgroup` is
/// `own`: its memory group's and every group's above it ("max" and v1's
/// huge "no limit" numbers do not parse as below the machine's memory).
fn cgroup_limit_files(own: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for line in own.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else { continue };
        let (root, file) = match controllers {
            "" => ("/sys/fs/cgroup", "memory.max"),
            c if c.split(',').any(|c| c == "memory") => ("/sys/fs/cgroup/memory", "memory.limit_in_bytes"),
            _ => continue,
        };
        let mut dir = std::path::PathBuf::from(root);
        files.push(dir.join(file));
        for part in path.split('/').filter(|p| !p.is_empty()) {
            dir.push(part);
            files.push(dir.join(file));
        }
    }
    files
}

fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The plan in words, for the log and `edgepaint info`.
pub fn describe(plan: &Plan, bundle: &Bundle) -> String {
    let mb = |c: Component| graph_bytes(bundle, c) as f64 / 1e6;
    let list = |cs: Vec<Component>| {
        cs.iter().map(|&c| format!("{} ({:.0} MB)", name(c), mb(c))).collect::<Vec<_>>().join(", ")
    };
    let not_held: Vec<Component> = ALL.into_iter().filter(|c| !plan.held.contains(c)).collect();
    let budget = match plan.budget {
        Some(b) => format!("memory budget {:.0} MB", b as f64 / 1e6),
        None => "no memory budget (the machine's memory is unknown)".into(),
    };
    match (plan.held.is_empty(), not_held.is_empty()) {
        (_, true) => format!("holds every graph loaded: {} ({budget})", list(plan.held.clone())),
        (true, _) => format!("loads every graph for its stage: {} ({budget})", list(not_held)),
        _ => format!("holds {}; loads {} for each picture ({budget})", list(plan.held.clone()), list(not_held)),
    }
}

pub fn name(c: Component) -> &'static str {
    match c {
        Component::TextEncoder => "text encoder",
        Component::Denoiser => "denoiser",
        Component::Preview => "preview decoder",
        Component::Decoder => "decoder",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Component::*;

    const MB: u64 = 1_000_000;
    /// SD-Turbo int8 in segments (README "Real-size models").
    const SD_TURBO: [(Component, u64); 3] = [(TextEncoder, 342 * MB), (Denoiser, 870 * MB), (Decoder, 50 * MB)];

    #[test]
    fn holds_the_denoiser_first_then_the_smallest() {
        assert_eq!(choose(&SD_TURBO, 4096 * MB / 2), vec![TextEncoder, Denoiser, Decoder]);
        assert_eq!(choose(&SD_TURBO, 2048 * MB / 2), vec![Denoiser, Decoder]);
        assert_eq!(choose(&SD_TURBO, 900 * MB), vec![Denoiser]);
    }

    #[test]
    fn holds_nothing_when_the_denoiser_does_not_fit() {
        // A 1 GB board: the text encoder would fit, but a streamed denoiser
        // needs the room.
        assert_eq!(choose(&SD_TURBO, 1024 * MB / 2), Vec::<Component>::new());
    }

    #[test]
    fn finds_the_cgroup_limits_above_the_process() {
        let v2 = cgroup_limit_files("0::/system.slice/edgepaint.service\n");
        assert_eq!(
            v2,
            ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/system.slice/memory.max", "/sys/fs/cgroup/system.slice/edgepaint.service/memory.max"]
                .map(std::path::PathBuf::from)
        );
        let v1 = cgroup_limit_files("4:memory:/docker/abc\n3:cpuset:/\n0::/\n");
        assert!(v1.contains(&"/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes".into()), "{v1:?}");
        assert!(v1.contains(&"/sys/fs/cgroup/memory.max".into()));
    }

    #[test]
    fn reads_mem_total() {
        let meminfo = "MemTotal:        1919216 kB\nMemFree:          123 kB\n";
        assert_eq!(mem_total_bytes(meminfo), Some(1919216 * 1024));
        assert_eq!(mem_total_bytes("nothing"), None);
    }
}
