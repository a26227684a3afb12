//! Tools whose issues have not landed yet: they parse any arguments and
//! say so, rather than pretending to work.

use clap::{Arg, ArgAction, Command};

pub fn command(name: &'static str, about: &'static str) -> Command {
    Command::new(name)
        .version(env!("CARGO_PKG_VERSION"))
        .about(about)
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
    anyhow::bail!("{name} is not built yet in this version of rtools; funccount is")
}
