//! Peak resident memory of this process.
//!
//! Read by hand from /proc/self/status (one line, Linux only): a crate such
//! as procfs would add far more code than these few lines.

/// VmHWM ("high water mark" of the resident set), or None off Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::parse_vm_hwm;

    #[test]
    fn reads_the_high_water_mark() {
        let status = "Name:\tedgepaint\nVmPeak:\t  200000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(51234 * 1024));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }
}
