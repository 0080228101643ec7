//! The `dbpm` binary: parse, run, exit with the code the command chose.

use std::process::ExitCode;

/// mimalloc: planning and loading large plans allocate many small strings, and with the
/// system allocator (which hands large blocks back to the kernel) they took up to twice as
/// long.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    dbpm::cli::run(std::env::args_os()).await.into()
}
