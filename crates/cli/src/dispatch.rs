//! The multicall dispatcher: one table of tools. `rtools TOOL ARGS`, or the
//! binary run through a symlink named after a tool; any other name behaves
//! as `rtools`.

use std::ffi::OsString;
use std::path::Path;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::check;
use crate::error;
use crate::exit;
use crate::output::{self, say};
use crate::pipeline::run_from;
use crate::tools::{funccount, funclatency, stackcount, trace};

pub struct Tool {
    pub name: &'static str,
    pub command: fn() -> Command,
    pub run: fn(&ArgMatches) -> anyhow::Result<()>,
}

/// The tool of module `$module`, whose arguments are `$args`.
macro_rules! tool {
    ($module:ident, $args:ident) => {
        Tool {
            name: stringify!($module),
            command: $module::command,
            run: run_from::<$module::$args>,
        }
    };
}

pub const TOOLS: &[Tool] = &[
    tool!(funccount, FunccountArgs),
    tool!(stackcount, StackcountArgs),
    tool!(trace, TraceArgs),
    tool!(funclatency, FunclatencyArgs),
];

fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The `rtools` command with every tool as a subcommand: the source of the
/// man pages and shell completions.
pub fn command() -> Command {
    Command::new("rtools")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true)
        .about("eBPF function-tracing tools: funccount, stackcount, trace, funclatency")
        .long_about(
            "eBPF function-tracing tools: funccount, stackcount, trace, funclatency.\n\n\
             Run a tool as 'rtools TOOL ARGS', or through a symlink named after it \
             (ln -s rtools funccount). Tools accept BCC's options and probe \
             specifications, and bpftrace's probe forms (kprobe:, uprobe:, usdt:, ...). \
             Where the two conventions clash, BCC's wins: 'u:lib:probe' is a USDT probe.",
        )
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Print the version and the kernel features found"),
        )
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("List the tools"),
        )
        .arg(
            Arg::new("check")
                .long("check")
                .action(ArgAction::SetTrue)
                .help("Try every kind of probe and say what works here, and why not (+)"),
        )
        .subcommands(TOOLS.iter().map(|t| (t.command)()))
}

/// Runs rtools with `args` (argv[0] first) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let argv0 = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("rtools");
    if let Some(tool) = find(argv0) {
        return run_tool(tool, args);
    }
    if let Some(tool) = args.get(1).and_then(|a| a.to_str()).and_then(find) {
        return run_tool(tool, args[1..].to_vec());
    }
    run_rtools(args)
}

fn run_tool(tool: &'static Tool, args: Vec<OsString>) -> i32 {
    output::set_tool(tool.name);
    match (tool.command)().try_get_matches_from(args) {
        Ok(matches) => match (tool.run)(&matches) {
            Ok(()) => exit::OK,
            Err(err) => error::report(tool.name, &err),
        },
        Err(err) => clap_error(tool.name, err),
    }
}

fn run_rtools(args: Vec<OsString>) -> i32 {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(err) => return clap_error("rtools", err),
    };
    if matches.get_flag("version") {
        output::stdout(&check::version());
        return exit::OK;
    }
    if matches.get_flag("check") {
        return match check::check() {
            Ok(()) => exit::OK,
            Err(err) => error::report("rtools", &err),
        };
    }
    if matches.get_flag("list") {
        for tool in TOOLS {
            let cmd = (tool.command)();
            let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            output::stdout(&format!("{:<12} {about}\n", tool.name));
        }
        return exit::OK;
    }
    say!("rtools: error: no tool given: run 'rtools TOOL ARGS' (see 'rtools --list')");
    exit::USAGE
}

/// Help and version print as clap renders them; errors become one line
/// with a pointer to --help, and exit 2.
fn clap_error(name: &str, err: clap::Error) -> i32 {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            exit::OK
        }
        _ => {
            let rendered = err.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            say!("{name}: error: {message} (see '{name} --help')");
            exit::USAGE
        }
    }
}
