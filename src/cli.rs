//! The command line: `kitchen-api [serve]`, `kitchen-api migrate`. Settings are shared by all
//! commands and can come from flags or environment variables (`--help` lists them).

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Rayvers Kitchen API: authentication and user profiles.
#[derive(Debug, Parser)]
#[command(name = "kitchen-api", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
}
