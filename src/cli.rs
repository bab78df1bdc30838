//! The command line: `serve` (the default), `migrate`, `createsuperuser`, `users`,
//! `import-django`. Passwords are never arguments (`ps` shows them): a prompt, or stdin.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::auth::{Argon2Hasher, Clock, PasswordHasher, SystemClock};
use crate::config::Config;
use crate::db::{self, Db, NewUser};
use crate::domain::{Email, Invalid, Password, PasswordPolicy};

/// Rayvers Kitchen API: authentication and user profiles.
#[derive(Debug, Parser)]
#[command(name = "kitchen-api", version, about, long_about = None, after_help = SECRETS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// A TOML file of settings: the long flag names in snake_case as keys (`database_url =
    /// "..."`). Flags and environment variables win over it.
    #[arg(
        long = "config",
        global = true,
        env = "KITCHEN_API_CONFIG",
        value_name = "FILE"
    )]
    pub config_file: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub config: Config,
}

const SECRETS_HELP: &str = "Secrets are read from the environment or the settings file only, \
never from flags (`ps` shows flags): KITCHEN_API_SMTP_PASSWORD (smtp_password), \
KITCHEN_API_METRICS_TOKEN (metrics_token), KITCHEN_API_MFA_KEY (mfa_key), KITCHEN_API_S3_SECRET_ACCESS_KEY \
(s3_secret_access_key), and DATABASE_URL when it holds a password.";

const DATABASE_SETTINGS: &[&str] = &[
    "config_file",
    "database_url",
    "db_max_connections",
    "db_acquire_timeout_secs",
    "log",
    "log_format",
];
const HASH_SETTINGS: &[&str] = &[
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
];

/// The command line, each administrative command's help cut to the settings it uses (the
/// others stay accepted, so a settings file that sets them keeps working).
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    // Global settings are copied into every subcommand here; only then can they be hidden.
    command.build();
    command
        .mut_subcommand("migrate", |c| show_only(c, &[]))
        .mut_subcommand("createsuperuser", |c| show_only(c, HASH_SETTINGS))
        .mut_subcommand("users", |c| {
            show_only(c, &[])
                .mut_subcommand("list", |c| show_only(c, &[]))
                .mut_subcommand("deactivate", |c| show_only(c, &[]))
        })
        .mut_subcommand("import-django", |c| show_only(c, &[]))
}

fn show_only(command: clap::Command, extra: &[&str]) -> clap::Command {
    command.mut_args(|arg| {
        let id = arg.get_id().as_str();
        let used = DATABASE_SETTINGS.contains(&id) || extra.contains(&id);
        if arg.is_global_set() && !used {
            arg.hide(true)
        } else {
            arg
        }
    })
}

const SECRET_FLAGS: &[(&str, &str)] = &[
    ("--smtp-password", "KITCHEN_API_SMTP_PASSWORD"),
    ("--metrics-token", "KITCHEN_API_METRICS_TOKEN"),
    ("--mfa-key", "KITCHEN_API_MFA_KEY"),
    ("--s3-secret-access-key", "KITCHEN_API_S3_SECRET_ACCESS_KEY"),
];

/// Refuses a secret given as a flag, where `ps` shows it, naming the variable to use instead.
pub fn refuse_secret_flags(args: &[std::ffi::OsString]) -> Result<(), String> {
    let args: Vec<_> = args.iter().skip(1).map(|a| a.to_string_lossy()).collect();
    let ends = args.iter().position(|a| a == "--").unwrap_or(args.len());
    for (i, arg) in args[..ends].iter().enumerate() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (arg.as_ref(), None),
        };
        let value = inline.or_else(|| args.get(i + 1).map(|v| v.as_ref()));
        let env = match SECRET_FLAGS.iter().find(|(f, _)| *f == flag) {
            Some((_, env)) => env,
            None if flag == "--database-url" && value.is_some_and(url_has_password) => {
                &"DATABASE_URL"
            }
            None => continue,
        };
        return Err(format!(
            "{flag} is not accepted on the command line, where other users can read it \
             (`ps`, shell history): set {env} in the environment or the settings file"
        ));
    }
    Ok(())
}

fn url_has_password(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.password().is_some()
            || u.query_pairs()
                .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    })
}

/// Parses `args`; on a mistake (or `--help`), prints clap's message and exits.
pub fn parse(args: Vec<std::ffi::OsString>) -> Cli {
    let matches = command().get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a superuser; the password comes from a prompt or the first line of stdin.
    Createsuperuser {
        /// The superuser's email address.
        #[arg(long)]
        email: String,
    },
    /// Administer users.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Import the Django service's users, hashes and tokens; safe to run again.
    ImportDjango {
        /// The Django database: `sqlite:PATH` or `postgres://…` (read only).
        // Its own id: the global mail setting's field is also called `from`.
        #[arg(long = "from", id = "import_from", value_name = "URL")]
        from: String,
        /// Do everything but write: the report says exactly what a real run would do.
        #[arg(long)]
        dry_run: bool,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        report_json: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersAction {
    /// Print every user: id, email, flags, date joined (tab-separated).
    List {
        /// Only users whose address or name contains this text.
        #[arg(long, default_value = "")]
        search: String,
    },
    /// Deactivate a user: every token of theirs stops working at once.
    Deactivate {
        #[arg(long)]
        email: String,
    },
}

async fn open(config: &Config) -> anyhow::Result<Db> {
    config.validate()?;
    let db = Db::connect(config).await?;
    db.migrate().await?;
    Ok(db)
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = open(config).await?;
    let database = config.database_location();
    tracing::info!(engine = db.engine(), %database, "migrations applied");
    db.close().await;
    Ok(())
}

pub async fn create_superuser(config: &Config, email: &str) -> anyhow::Result<()> {
    let email =
        Email::parse(email).map_err(|Invalid(m)| anyhow::anyhow!("email: {}", m.join(" ")))?;
    let password = read_password()?;
    if let Err(Invalid(messages)) = PasswordPolicy::new().check(&password, Some(&email)) {
        bail!("password: {}", messages.join(" "));
    }
    let db = open(config).await?;
    let hasher = Argon2Hasher::new(config.argon2_params()?);
    let hash = tokio::task::spawn_blocking(move || hasher.hash(&password)).await??;
    let user = NewUser {
        email: &email,
        password_hash: &hash,
        date_joined: SystemClock.now(),
    };
    let row =
        db::insert_superuser(&db, &user).await.map_err(|e| {
            match crate::error::ApiError::from(e) {
                crate::error::ApiError::Validation(_) => {
                    anyhow::anyhow!("email: User with email already exists.")
                }
                other => anyhow::anyhow!("{other}"),
            }
        })?;
    tracing::info!(user_id = row.id, "superuser created");
    writeln!(
        std::io::stdout(),
        "Superuser created: id {} <{}>",
        row.id,
        row.email
    )?;
    db.close().await;
    Ok(())
}

pub async fn users(config: &Config, action: UsersAction) -> anyhow::Result<()> {
    let db = open(config).await?;
    let mut out = std::io::stdout().lock();
    match action {
        UsersAction::List { search } => {
            writeln!(
                out,
                "id\temail\tis_active\tis_staff\tis_superuser\tdate_joined"
            )?;
            let (page, mut offset) = (500, 0);
            loop {
                let (count, rows) = db::list_users(&db, &search, page, offset).await?;
                for u in &rows {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        u.id,
                        u.email,
                        u.is_active,
                        u.is_staff,
                        u.is_superuser,
                        u.date_joined.to_rfc3339()
                    )?;
                }
                offset += rows.len() as i64;
                if rows.is_empty() || offset >= count {
                    break;
                }
                // Progress for long listings goes to stderr, so stdout stays a clean table.
                write!(std::io::stderr(), "\r{offset}/{count} users")?;
            }
        }
        UsersAction::Deactivate { email } => {
            let key = Email::lookup_key(&email);
            let Some(id) = db::deactivate_user_by_email_key(&db, &key).await? else {
                bail!("no user with email {email}");
            };
            // Running servers may hold the account's sessions in their caches: tell them.
            let change = crate::auth::SessionChange::User(id);
            if let Err(e) = crate::auth::tell_other_processes(&db, change).await {
                tracing::warn!(error = %e, "running servers could not be told; they apply the change within their session-cache TTL");
            }
            tracing::info!(
                action = "deactivate",
                "user deactivated from the command line"
            );
            writeln!(out, "Deactivated {email}")?;
        }
    }
    db.close().await;
    Ok(())
}

pub async fn import_django(
    config: &Config,
    from: &str,
    dry_run: bool,
    report_json: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let db = open(config).await?;
    let report = crate::import_django::import(&db, from, dry_run).await?;
    report.print(&mut std::io::stdout().lock())?;
    if let Some(path) = report_json {
        report.write_json(path)?;
    }
    db.close().await;
    Ok(())
}

/// A prompt (twice) on a terminal; otherwise the first line of standard input.
fn read_password() -> anyhow::Result<Password> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password (again): ")?;
        if first != again {
            bail!("the passwords do not match");
        }
        return Ok(Password::new(first));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("no password on standard input");
    }
    Ok(Password::new(line))
}
