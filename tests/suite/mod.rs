mod prometheus;
mod support;

mod cli;
mod exporter_files;
mod root_attach_interrupt;
mod root_bad_input;
mod root_cgroups;
mod root_exited_keys;
mod root_exporter;
mod root_funccount;
mod root_funccount_errors;
mod root_funclatency;
mod root_return_safety;
mod root_stackcount;
mod root_trace;
mod vm;
mod vm_kernel_functions;
