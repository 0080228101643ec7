//! The `dbpm` binary: parse, run, exit with the code the command chose.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    dbpm::cli::run(std::env::args_os()).await.into()
}
