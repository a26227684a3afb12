//! rtools' integration tests: one binary, modules under suite/.
//! Tests named `root_*` load BPF programs and need root; run as another
//! user they print that they skipped.

mod suite;
