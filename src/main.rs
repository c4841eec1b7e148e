//! The `panic-tda` binary: parses the command line and hands over to the GUI or a CLI command.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
