//! routerlab: test and benchmark harness for client-IP-preserving reverse proxies on
//! emulated routers. This binary only parses arguments and maps results to exit codes;
//! the work is in the `harness` crate.
/// `println!` that ignores a closed stdout (`routerlab check scenarios | head`): a reader
/// that went away is not an error worth a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod cli;
mod cmd;
mod exit;
mod share;

use clap::Parser as _;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // One line that names the bad value, like every other routerlab error.
            let text = e.render().to_string();
            let message: Vec<&str> =
                text.lines().take_while(|l| !l.is_empty() && !l.starts_with("Usage:")).map(str::trim).collect();
            eprintln!("routerlab: error: {} (see --help)", message.join(" ").trim_start_matches("error: "));
            std::process::exit(exit::Code::BadInput.into());
        }
    };
    init_tracing(cli.verbose);
    let code = match cmd::dispatch(cli.command) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    };
    std::process::exit(code.into());
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // rustls warns per handshake about peers' quirks (e.g. an IP address sent as SNI, as
    // wrk does); that is the peer's business, and it would flood a backend's stderr.
    let default = if verbose == 0 { format!("{default},rustls=error") } else { default.to_string() };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROUTERLAB_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color())
        .with_target(false)
        .init();
}

/// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org): the lab's
/// helpers write their stderr into files of the run directory.
fn color() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
