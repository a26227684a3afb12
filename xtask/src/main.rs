//! Project chores: `cargo xtask gen` writes the man pages and shell
//! completions from the clap definitions; `cargo xtask check` fails if the
//! committed ones are stale.

mod bench;
mod bench_vm;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Command, Parser, Subcommand};
use clap_complete::Shell;

#[derive(Parser)]
#[command(name = "xtask")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Write man/ and completions/ from the clap definitions
    Gen,
    /// Fail if man/ or completions/ differ from what gen would write
    Check,
    /// Measure rtools against bpftrace (and the floor) on the same
    /// workloads; needs root and bpftrace
    Bench {
        /// Rounds per tool; the table shows medians
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Only scenarios whose name contains this
        #[arg(long)]
        scenario: Option<String>,
        /// Also compare the kernel-function backends in the qemu guests
        #[arg(long)]
        vm: bool,
    },
}

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let task = Args::parse().task;
    if let Task::Bench {
        rounds,
        scenario,
        vm,
    } = &task
    {
        return bench::run(*rounds, scenario.as_deref(), *vm);
    }
    let files = generate()?;
    match task {
        Task::Gen => {
            for (path, bytes) in &files {
                let path = root.join(path);
                fs::create_dir_all(path.parent().unwrap())?;
                fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            }
            println!("wrote {} files", files.len());
        }
        Task::Check => {
            let stale: Vec<String> = files
                .iter()
                .filter(|(path, bytes)| fs::read(root.join(path)).ok().as_ref() != Some(bytes))
                .map(|(path, _)| path.display().to_string())
                .collect();
            if !stale.is_empty() {
                bail!(
                    "stale generated files (run `cargo xtask gen`): {}",
                    stale.join(", ")
                );
            }
            println!(
                "man pages and completions are up to date ({} files)",
                files.len()
            );
        }
        Task::Bench { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// Every generated file: its path in the repository and its contents.
fn generate() -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let rtools = rtools_cli::command();
    let mut commands: Vec<Command> = vec![rtools.clone()];
    commands.extend(rtools.get_subcommands().cloned());
    let mut files = Vec::new();
    for cmd in commands {
        let name = cmd.get_name().to_string();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section("8")
            .render(&mut page)?;
        files.push((PathBuf::from(format!("man/{name}.8")), page));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut script);
            let file = match shell {
                Shell::Bash => format!("{name}.bash"),
                Shell::Zsh => format!("_{name}"),
                _ => format!("{name}.fish"),
            };
            files.push((PathBuf::from("completions").join(file), script));
        }
    }
    Ok(files)
}
