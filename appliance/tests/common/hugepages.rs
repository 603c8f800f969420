//! Hugepages for a test that needs a primary process DPDK secondaries can
//! attach to (they cannot attach to a `--no-huge` one): reserves enough
//! 2 MiB pages and mounts hugetlbfs if need be, and on drop removes the
//! test's page files and puts the machine back as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

/// The reservation; undone on drop.
pub struct HugePages {
    /// The hugetlbfs mount DPDK will use.
    pub mount: PathBuf,
    file_prefix: String,
    previous_pages: Option<u64>,
    mounted_here: bool,
}

fn meminfo(field: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn read_nr() -> u64 {
    std::fs::read_to_string(NR_HUGEPAGES)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// The first hugetlbfs mount point, if any.
fn hugetlbfs_mount() -> Option<PathBuf> {
    std::fs::read_to_string("/proc/mounts")
        .ok()?
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "hugetlbfs")
        .map(|f| PathBuf::from(f[1]))
}

impl HugePages {
    /// Makes sure `pages` free 2 MiB pages and a hugetlbfs mount exist,
    /// for a DPDK process with `file_prefix`. Panics with the reason if
    /// this machine cannot give them.
    pub fn reserve(pages: u64, file_prefix: &str) -> HugePages {
        let size_kb = meminfo("Hugepagesize:");
        assert_eq!(
            size_kb, 2048,
            "this test reserves 2 MiB hugepages; the default size here is {size_kb} kB"
        );
        let free = meminfo("HugePages_Free:");
        let mut previous_pages = None;
        if free < pages {
            let before = read_nr();
            let want = before + (pages - free);
            std::fs::write(NR_HUGEPAGES, want.to_string())
                .unwrap_or_else(|e| panic!("cannot write {NR_HUGEPAGES} (needs root): {e}"));
            previous_pages = Some(before);
            let now_free = meminfo("HugePages_Free:");
            if now_free < pages {
                let _ = std::fs::write(NR_HUGEPAGES, before.to_string());
                panic!(
                    "asked the kernel for {want} hugepages to have {pages} free, got {now_free} free \
                     (memory too fragmented or too small)"
                );
            }
        }
        let (mount, mounted_here) = match hugetlbfs_mount() {
            Some(m) => (m, false),
            None => {
                let m = PathBuf::from("/dev/hugepages");
                std::fs::create_dir_all(&m).expect("create /dev/hugepages");
                let ok = Command::new("mount")
                    .args(["-t", "hugetlbfs", "nodev"])
                    .arg(&m)
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "cannot mount hugetlbfs on {}", m.display());
                (m, true)
            }
        };
        HugePages {
            mount,
            file_prefix: file_prefix.to_string(),
            previous_pages,
            mounted_here,
        }
    }

    /// Removes the page files DPDK left for this prefix (`<prefix>map_N`).
    fn remove_page_files(&self) {
        let start = format!("{}map_", self.file_prefix);
        if let Ok(dir) = std::fs::read_dir(&self.mount) {
            for e in dir.flatten() {
                if e.file_name().to_string_lossy().starts_with(&start) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    fn is_empty(dir: &Path) -> bool {
        std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        self.remove_page_files();
        if let Some(n) = self.previous_pages {
            let _ = std::fs::write(NR_HUGEPAGES, n.to_string());
        }
        if self.mounted_here && Self::is_empty(&self.mount) {
            let _ = Command::new("umount").arg(&self.mount).status();
        }
    }
}
