//! Output writers. Text layouts match BCC's tools character for character.

pub mod count_json;
pub mod count_table;
