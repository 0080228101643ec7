//! The `dbpm` binary: parse, run, exit with the code the command chose.

use std::process::ExitCode;

fn main() -> ExitCode {
    dbpm::cli::run(std::env::args_os()).into()
}
