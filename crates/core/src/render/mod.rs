//! Output writers. Text layouts match BCC's tools character for character.

pub mod count_json;
pub mod count_table;
pub mod flamegraph;
pub mod log2_hist;
pub mod metrics;
pub mod prometheus;
pub mod stack_folded;
pub mod stack_json;
pub mod stack_text;
pub mod trace_text;

#[cfg(test)]
mod golden;
