//! rtools-cli: argument parsing, dispatch, and one module per tool.

mod check;
pub mod dispatch;
mod error;
pub mod exit;
mod exporter;
mod flags;
mod numbers;
mod output;
mod pipeline;
mod schedule;
mod signals;
mod tools;

pub use dispatch::command;

/// The entry point of the `rtools` binary.
pub fn main() {
    std::process::exit(dispatch::run(std::env::args_os().collect()));
}
