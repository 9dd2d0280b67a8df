//! CPU, memory, disk and temperature of the box, through `sysinfo`.

use std::path::Path;

use serde::Serialize;
use sysinfo::{Components, Disks, System};

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SystemStats {
    /// Average over every CPU since the previous read, percent.
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// The file system holding the data directory.
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    /// The hottest sensor, when the machine has any.
    pub temperature_celsius: Option<f64>,
}

impl SystemStats {
    pub fn disk_used_percent(&self) -> f64 {
        if self.disk_total_bytes == 0 {
            0.0
        } else {
            self.disk_used_bytes as f64 * 100.0 / self.disk_total_bytes as f64
        }
    }
}

/// Kept between reads: CPU use is a difference between two reads.
#[derive(Debug)]
pub struct SystemProbe {
    sys: System,
    disks: Disks,
    components: Components,
}

impl Default for SystemProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemProbe {
    pub fn new() -> SystemProbe {
        let mut sys = System::new();
        sys.refresh_cpu_usage();
        SystemProbe {
            sys,
            disks: Disks::new_with_refreshed_list(),
            components: Components::new_with_refreshed_list(),
        }
    }

    pub fn read(&mut self, data_dir: &Path) -> SystemStats {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        self.disks.refresh_list();
        self.components.refresh();
        let dir = data_dir
            .canonicalize()
            .unwrap_or_else(|_| data_dir.to_path_buf());
        // The disk whose mount point is the longest prefix of the data dir.
        let disk = self
            .disks
            .list()
            .iter()
            .filter(|d| dir.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len());
        let (used, total) = disk
            .map(|d| {
                (
                    d.total_space().saturating_sub(d.available_space()),
                    d.total_space(),
                )
            })
            .unwrap_or((0, 0));
        let temperature = self
            .components
            .list()
            .iter()
            .map(|c| f64::from(c.temperature()))
            .filter(|t| t.is_finite() && *t > 0.0)
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
        SystemStats {
            cpu_percent: f64::from(self.sys.global_cpu_usage()),
            memory_used_bytes: self.sys.used_memory(),
            memory_total_bytes: self.sys.total_memory(),
            disk_used_bytes: used,
            disk_total_bytes: total,
            temperature_celsius: temperature,
        }
    }
}
