mod support;

mod cli;
mod root_funccount;
mod root_funccount_errors;
