//! The `kitchen-api` binary: parses the command line and runs the chosen command.

use clap::Parser;
use kitchen_api::app::{Application, shutdown_signal};
use kitchen_api::cli::{Cli, Command};
use kitchen_api::db::Db;
use kitchen_api::telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(&cli.config);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Migrate => migrate(cli.config).await,
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

async fn migrate(config: kitchen_api::config::Config) -> anyhow::Result<()> {
    config.validate()?;
    let db = Db::connect(&config).await?;
    db.migrate().await?;
    tracing::info!(engine = db.engine(), "migrations applied");
    db.close().await;
    Ok(())
}
