//! The `kitchen-api` binary: parses the command line and runs the chosen command.

use clap::Parser;
use kitchen_api::app::{Application, shutdown_signal};
use kitchen_api::cli::{self, Cli, Command};
use kitchen_api::telemetry;

/// mimalloc for Rust's allocations: the cheap path is many small short-lived allocations
/// (headers, bodies, futures), where glibc's malloc and free were ~10 % of the server's CPU.
/// Alternated A/B on cached `GET /users/me/`: ~17 % less server CPU per request
/// (`docs/decisions/0013`). Built without transparent huge pages, which raised its idle
/// memory from 16 to 27+ MiB. SQLite's memory and the Argon2 buffers stay with glibc
/// (`sys.rs`, `auth::argon`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kitchen_api::return_large_blocks_to_the_system();
    let args = match kitchen_api::config_file::args_with_config_file(std::env::args_os().collect())
    {
        Ok(args) => args,
        Err(e) => {
            eprintln!("kitchen-api: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    telemetry::init(&cli.config);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Migrate => cli::migrate(&cli.config).await,
        Command::Createsuperuser { email } => cli::create_superuser(&cli.config, &email).await,
        Command::Users { action } => cli::users(&cli.config, action).await,
        Command::ImportDjango {
            from,
            dry_run,
            report_json,
        } => cli::import_django(&cli.config, &from, dry_run, report_json.as_deref()).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "kitchen-api failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: kitchen_api::config::Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    Application::build(config).await?.run_until(shutdown).await
}
