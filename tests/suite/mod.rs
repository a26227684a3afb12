mod support;

mod cli;
mod root_funccount;
mod root_funccount_errors;
mod root_funclatency;
mod root_stackcount;
mod vm;
mod vm_kernel_functions;
