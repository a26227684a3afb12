//! Project chores: `cargo xtask gen` writes the man pages and shell
//! completions from the clap definitions; `cargo xtask check` fails if the
//! committed ones are stale; `bench` compares rtools with its peers;
//! `mutants` runs mutation testing and checks the score.

mod bench;
mod bench_exporter;
mod bench_profile;
mod bench_trace;
mod bench_unwind;
mod bench_vm;
mod mutants;

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
    /// Mutation testing (cargo-mutants) of what unit tests reach; fails
    /// under a 95% caught score
    Mutants {
        /// Mutants built and tested at once
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Only this source file (a quick look; the score is its own)
        #[arg(long)]
        file: Option<String>,
        /// Only this share of the mutants, K/N (CI runs one a day)
        #[arg(long)]
        shard: Option<String>,
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
    if let Task::Mutants { jobs, file, shard } = &task {
        return mutants::run(&root, *jobs, file.as_deref(), shard.as_deref());
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
        Task::Bench { .. } | Task::Mutants { .. } => unreachable!("handled above"),
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
        files.push((
            PathBuf::from(format!("man/{name}.8")),
            man_page(&cmd, &rtools)?,
        ));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut script);
            let script = complete_pids(shell, &String::from_utf8(script)?).into_bytes();
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

/// A section-8 page: clap_mangen's title, name, synopsis, description and
/// options, then sections of our own, so that the examples keep their
/// lines (`.nf`), the notes stay paragraphs, and the pages cite each
/// other by the names they are installed under (`funccount(8)`, not
/// clap's `rtools-funccount(8)`).
fn man_page(cmd: &Command, rtools: &Command) -> Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone()).section("8");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    let after = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let (examples, notes) = after.split_once("\n\nNotes:\n").unwrap_or((&after, ""));
    let mut roff = String::new();
    if let Some(examples) = examples.strip_prefix("Examples:\n") {
        roff.push_str(".SH EXAMPLES\n.nf\n");
        for line in examples.lines() {
            roff.push_str(&escape(line.trim_start()));
            roff.push('\n');
        }
        roff.push_str(".fi\n");
    }
    if !notes.is_empty() {
        roff.push_str(".SH NOTES\n");
        // Blank lines part the notes; each is one filled paragraph.
        for paragraph in notes.split("\n\n") {
            let words: Vec<&str> = paragraph.split_whitespace().collect();
            roff.push_str(&format!(".PP\n{}\n", escape(&words.join(" "))));
        }
    }
    let tools: Vec<String> = rtools
        .get_subcommands()
        .map(|t| t.get_name().to_string())
        .collect();
    if cmd.get_name() == "rtools" {
        roff.push_str(".SH TOOLS\n");
        for tool in rtools.get_subcommands() {
            let about = tool.get_about().map(|a| a.to_string()).unwrap_or_default();
            roff.push_str(&format!(
                ".TP\n\\fB{}\\fR(8)\n{}\n",
                tool.get_name(),
                escape(&about)
            ));
        }
    }
    let see_also: Vec<String> = std::iter::once("rtools".to_string())
        .chain(tools)
        .filter(|n| n != cmd.get_name())
        .map(|n| format!("\\fB{n}\\fR(8)"))
        .collect();
    roff.push_str(&format!(".SH SEE ALSO\n{}\n", see_also.join(", ")));
    page.extend_from_slice(roff.as_bytes());
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// Text as roff reads it literally.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

/// clap's completions know no process ids: `-p/--pid` (value name PID)
/// completes running pids instead of nothing. Each shell's own way.
fn complete_pids(shell: Shell, script: &str) -> String {
    match shell {
        Shell::Bash => {
            // Replace the body of the `--pid)` and `-p)` cases.
            let mut out = Vec::new();
            let mut lines = script.lines();
            while let Some(line) = lines.next() {
                out.push(line.to_string());
                let trimmed = line.trim();
                if trimmed != "--pid)" && trimmed != "-p)" {
                    continue;
                }
                let indent = " ".repeat(line.len() - line.trim_start().len() + 4);
                for skipped in lines.by_ref() {
                    if skipped.trim() == "return 0" {
                        break;
                    }
                }
                out.push(format!(
                    "{indent}COMPREPLY=($(compgen -W \"$(ls /proc | grep '^[0-9]')\" -- \"${{cur}}\"))"
                ));
                out.push(format!("{indent}return 0"));
            }
            out.join("\n") + "\n"
        }
        Shell::Zsh => script.replace(":PID:'", ":PID:_pids'"),
        Shell::Fish => {
            script
                .lines()
                .map(|l| {
                    if l.contains(" -l pid ") {
                        format!("{l} -a '(__fish_complete_pids)'")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
        _ => script.to_string(),
    }
}
