//! Tools whose issues have not landed yet: their --help, man page and
//! error say so, and what to use meanwhile, rather than pretending to
//! work.

use clap::{Arg, ArgAction, Command};

/// What to use until the tool exists.
const MEANWHILE: &str = "funccount counts events, stackcount counts their call stacks and \
funclatency times functions; BCC's trace-bpfcc prints events";

pub fn command(name: &'static str, about: &'static str) -> Command {
    let version = env!("CARGO_PKG_VERSION");
    Command::new(name)
        .version(version)
        .about(format!("{about} (not built yet in rtools {version})"))
        .long_about(format!(
            "{about}.\n\n{name} is not built yet in rtools {version}: it accepts BCC's \
             arguments and exits with an error. Meanwhile: {MEANWHILE}."
        ))
        .arg(
            Arg::new("args")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .action(ArgAction::Append)
                .help("Arguments, as the BCC tool of the same name takes them"),
        )
}

pub fn not_built(name: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "{name} is not built yet in rtools {}: meanwhile, {MEANWHILE}",
        env!("CARGO_PKG_VERSION")
    )
}
