//! The optional TOML settings file, keyed by the long flag names in snake_case. It becomes
//! flags before clap parses, for the settings no flag or variable sets, so clap stays the one
//! source of names, types and defaults and the process environment is never mutated.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::CommandFactory;

use crate::cli::Cli;

const FLAG: &str = "config";
const ENV: &str = "KITCHEN_API_CONFIG";

/// A settings file that cannot be used, naming the file and the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {} is not valid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error(
        "config file {}: unknown setting `{key}` (keys are the long flag names of \
         `kitchen-api --help` in snake_case, e.g. `database_url`)",
        path.display()
    )]
    UnknownKey { path: PathBuf, key: String },
    #[error("config file {}: invalid value for `{key}`: {reason}", path.display())]
    BadValue {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// `args` with the settings file's values added as flags, ahead of any subcommand.
pub fn args_with_config_file(args: Vec<OsString>) -> Result<Vec<OsString>, ConfigFileError> {
    let Some(path) = file_named_by(&args) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
        path: path.clone(),
        source,
    })?;
    let table: toml::Table =
        text.parse()
            .map_err(|e: toml::de::Error| ConfigFileError::Syntax {
                path: path.clone(),
                message: e.to_string(),
            })?;
    let command = Cli::command();
    let mut flags = Vec::new();
    for (key, value) in &table {
        let setting = command
            .get_arguments()
            .find(|a| a.get_env().is_some() && a.get_long().map(snake_case).as_deref() == Some(key))
            .filter(|a| a.get_long() != Some(FLAG))
            .ok_or_else(|| ConfigFileError::UnknownKey {
                path: path.clone(),
                key: key.clone(),
            })?;
        let bad = |reason: String| ConfigFileError::BadValue {
            path: path.clone(),
            key: key.clone(),
            reason,
        };
        let text = scalar_text(value).map_err(bad)?;
        check_value(setting, &text).map_err(bad)?;
        let long = setting.get_long().unwrap_or_default();
        let in_env = setting
            .get_env()
            .is_some_and(|v| std::env::var_os(v).is_some());
        if !in_env && !given_as_flag(&args, long) && !text.is_empty() {
            flags.push(OsString::from(format!("--{long}={text}")));
        }
    }
    let mut out = Vec::with_capacity(args.len() + flags.len());
    let mut rest = args.into_iter();
    out.extend(rest.next());
    out.extend(flags);
    out.extend(rest);
    Ok(out)
}

fn file_named_by(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        if arg == format!("--{FLAG}") {
            return iter.next().map(|p| PathBuf::from(p.as_ref()));
        }
        if let Some(p) = arg.strip_prefix(&format!("--{FLAG}=")) {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os(ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn snake_case(long: &str) -> String {
    long.replace('-', "_")
}

fn given_as_flag(args: &[OsString], long: &str) -> bool {
    let (bare, with_value) = (format!("--{long}"), format!("--{long}="));
    args.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == bare || a.starts_with(&with_value)
    })
}

/// A TOML value as the text the flag would take: lists become comma-separated.
fn scalar_text(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(items) => Ok(items
            .iter()
            .map(|item| match item {
                toml::Value::Array(_) | toml::Value::Table(_) => {
                    Err("a list may hold only strings, numbers or booleans".to_owned())
                }
                other => scalar_text(other),
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(",")),
        toml::Value::Table(_) | toml::Value::Datetime(_) => {
            Err("expected a string, number, boolean or list".to_owned())
        }
    }
}

/// Runs the setting's own clap parser over `text`, alone, so an error names the file's key.
fn check_value(setting: &clap::Arg, text: &str) -> Result<(), String> {
    let long = setting.get_long().unwrap_or_default();
    let probe = clap::Command::new("kitchen-api")
        .no_binary_name(true)
        .arg(setting.clone().global(false).env(None::<&'static str>));
    probe
        .try_get_matches_from([format!("--{long}={text}")])
        .map(|_| ())
        .map_err(|e| clap_reason(&e))
}

fn clap_reason(error: &clap::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}
