//! Loading: built-in defaults < TOML file < `MAILROOM_SECTION__KEY` environment.

use crate::Config;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the configuration came from; kept so that SIGHUP reads the same sources again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// The TOML file, if any (`--config FILE`, else `./mailroom.toml` when it exists).
    pub file: Option<PathBuf>,
    /// Whether `MAILROOM_*` environment variables are layered on top.
    pub use_env: bool,
}

impl ConfigSource {
    /// `--config FILE` if given, else `./mailroom.toml` if present, else none; env on.
    pub fn discover(explicit: Option<&Path>) -> Self {
        let file = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("mailroom.toml")).filter(|p| p.is_file()),
        };
        Self {
            file,
            use_env: true,
        }
    }

    /// Only this file, without the environment (`config check FILE`).
    pub fn file_only(path: &Path) -> Self {
        Self {
            file: Some(path.to_path_buf()),
            use_env: false,
        }
    }
}

/// One problem found while loading or validating, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path, e.g. `limits.max_recipients`; empty when the whole file is at fault.
    pub key: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Every problem on its own indented line, under a heading: what the CLI and `serve` print.
pub fn describe(errors: &[ConfigError]) -> String {
    let mut out = String::from("invalid configuration:");
    for e in errors {
        out.push_str("\n  ");
        out.push_str(&e.to_string());
    }
    out
}

/// Read and validate the configuration from `source`; every problem found is returned.
pub fn load(source: &ConfigSource) -> Result<Config, Vec<ConfigError>> {
    let mut layers = Figment::new();
    if let Some(path) = &source.file {
        // Read the file ourselves: figment treats a missing file as empty, and an operator
        // who names a file that cannot be read must hear about it.
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                key: String::new(),
                message: format!("cannot read {}: {e}", path.display()),
            }]
        })?;
        layers = layers.merge(Toml::string(&text));
    }
    if source.use_env {
        layers = layers.merge(Env::prefixed("MAILROOM_").split("__"));
    }
    let mut defaults = Config::default();
    // A `[listeners]` table written by the operator replaces the default set as a whole, so
    // that leaving a listener out of it turns that listener off.
    if layers.contains("listeners") {
        defaults.listeners = crate::Listeners::none();
    }
    let mut config: Config = Figment::from(Serialized::defaults(defaults))
        .merge(layers.clone())
        .extract()
        .map_err(figment_errors)?;
    crate::security::migrate(&mut config, |key| layers.contains(key));
    let problems = crate::validate::validate(&config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

fn figment_errors(err: figment::Error) -> Vec<ConfigError> {
    err.into_iter()
        .map(|e| {
            // figment's path already ends with the unknown field's name.
            let message = match &e.kind {
                figment::error::Kind::UnknownField(field, _) => format!("unknown key `{field}`"),
                kind => kind.to_string(),
            };
            ConfigError {
                key: e.path.join("."),
                message,
            }
        })
        .collect()
}
