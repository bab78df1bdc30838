//! The `kitchen-api` binary: parses the command line and runs the chosen command.

use kitchen_api::app::{Application, shutdown_signal};
use kitchen_api::cli::{self, Command};
use kitchen_api::telemetry;

/// mimalloc for Rust's many small short-lived allocations, where glibc's malloc cost the cheap
/// path most (docs/decisions/0013); SQLite's memory and the Argon2 buffers stay with glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kitchen_api::return_large_blocks_to_the_system();
    let args: Vec<_> = std::env::args_os().collect();
    let args = cli::refuse_secret_flags(&args).and_then(|()| {
        kitchen_api::config_file::args_with_config_file(args).map_err(|e| e.to_string())
    });
    let args = match args {
        Ok(args) => args,
        Err(e) => {
            eprintln!("kitchen-api: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let cli = cli::parse(args);
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
            // A message for the person at the terminal, not a log record.
            eprintln!("kitchen-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: kitchen_api::config::Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    Application::build(config).await?.run_until(shutdown).await
}
