//! One module per tool, each a short pipeline:
//! parse -> resolve targets -> attach -> collect -> render.

pub mod common;
pub mod funccount;
pub mod funclatency;
pub mod stack_output;
pub mod stackcount;
pub mod trace;
