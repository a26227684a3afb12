//! The task filters every counting program shares (common.bpf.h's
//! `filter_tgid`, `filter_cpu` and cgroup filter): `-p`, `-C`, `--cgroup`;
//! and rtools' own process and keeper, which user probes leave out.

use std::path::PathBuf;

use libbpf_rs::MapCore;

use crate::cgroup_filter;
use crate::error::BpfError;

/// Which tasks a program counts; the defaults count every task.
#[derive(Debug, Clone, Default)]
pub struct TaskFilters {
    /// `-p`: this process only.
    pub pid: Option<u32>,
    /// `-C`: this CPU only (funclatency has no such option).
    pub cpu: Option<u32>,
    /// `--cgroup`: only tasks under this cgroup v2 directory.
    pub cgroup: Option<PathBuf>,
}

impl TaskFilters {
    /// After load: puts the `--cgroup` directory in the program's
    /// `cgroup_filter` map (the rodata flag was set at open).
    pub(crate) fn apply_cgroup(&self, map: &impl MapCore) -> Result<(), BpfError> {
        match &self.cgroup {
            Some(dir) => cgroup_filter::apply(map, dir),
            None => Ok(()),
        }
    }
}

/// Opens skeleton builder `$builder` in `$storage`, writes the
/// [`TaskFilters`] `$filters` to its rodata and runs `$set` with the rodata
/// named `$rodata` for the program's own settings; evaluates to the open
/// skeleton. A macro because every skeleton has its own rodata type.
macro_rules! open_filtered {
    ($builder:ty, $storage:expr, $filters:expr, |$rodata:ident| $set:block) => {{
        let mut open = <$builder>::default()
            .open($storage)
            .map_err($crate::error::BpfError::Load)?;
        let $rodata = open
            .maps
            .rodata_data
            .as_deref_mut()
            .expect("every program has rodata (common.bpf.h's filters)");
        let filters: &$crate::task_filters::TaskFilters = $filters;
        $rodata.filter_tgid = filters.pid.unwrap_or(0);
        $rodata.filter_cpu = filters.cpu.map_or(-1, |c| c as i32);
        $rodata.filter_cgroup = filters.cgroup.is_some();
        $rodata.self_tgid = std::process::id();
        $rodata.keeper_tgid = $crate::keeper::pid().unwrap_or(0);
        $set
        open
    }};
}
pub(crate) use open_filtered;
