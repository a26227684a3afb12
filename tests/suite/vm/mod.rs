//! The qemu guests (crate rtools-vm), running this build's binaries.

use std::collections::BTreeMap;

pub use rtools_vm::{kernel, Case, CaseResult};

use super::support::{rtools_bin, testprog_bin, vm_lock};

pub fn run(kernel: &rtools_vm::Kernel, cases: &[Case]) -> BTreeMap<String, CaseResult> {
    let _machine = vm_lock();
    let bins = rtools_vm::Binaries {
        rtools: rtools_bin(),
        testprog: testprog_bin(),
    };
    rtools_vm::run(kernel, cases, &bins)
}
