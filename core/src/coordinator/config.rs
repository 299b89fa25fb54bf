//! Operator configuration: where to listen and keep data, limits, rate
//! limits, the prompt filter and the lifecycle timings. Read from an optional
//! TOML file, then overridden by `HORDE_*` environment variables; every field
//! has a default, so a fresh machine needs neither.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything an operator can set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`HORDE_LISTEN`).
    pub listen: SocketAddr,
    /// Directory holding the database and result blobs (`HORDE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// PostgreSQL database shared by several coordinator processes
    /// (`postgres://user@host:port/db`, `HORDE_DATABASE`); unset: SQLite in
    /// the data directory.
    pub database: Option<String>,
    /// URL clients and workers reach this horde at, used in upload and
    /// download links (`HORDE_PUBLIC_URL`); defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// Largest request body in bytes (`HORDE_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Seconds a request lives after its last activity.
    pub request_ttl_secs: f64,
    /// Cap on the seconds a popped job may stay unsubmitted before it is
    /// requeued (unset: upstream's ttl, from 150 s for text and from the
    /// size of an image); a private horde of fast workers may shorten it.
    pub max_job_ttl_secs: Option<f64>,
    /// How often stale jobs are requeued and expired requests removed.
    pub sweep_interval_secs: f64,
    /// Jobs a registered user may have waiting at once.
    pub default_concurrency: u32,
    /// Jobs all anonymous clients together may have waiting at once.
    pub anonymous_concurrency: u32,
    /// Refuse new requests (workers finish the queue).
    pub maintenance_mode: bool,
    /// Operator prompt filter: requests whose prompt matches any regex are
    /// refused with `CorruptPrompt` (case-insensitive).
    pub prompt_filter: Vec<String>,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Connection timeouts and the cap on open connections.
    pub connections: super::http::connections::ConnectionLimits,
    /// The model reference: text model sizes and image baselines (the
    /// shipped defaults, extended or replaced here).
    pub models: super::reference::ModelsConfig,
    /// News for the members, newest first, as `GET /v2/status/news` serves
    /// it (`[[news]]` tables: `date_published`, `newspiece`, `importance`,
    /// optional `title`, `tags`, `more_info_urls`).
    pub news: Vec<crate::api::NewsItem>,
}

/// Puts every value of `top` over `under`, table by table.
fn overlay(under: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (under.get_mut(&key), value) {
            (Some(toml::Value::Table(u)), toml::Value::Table(t)) => overlay(u, t),
            (_, value) => {
                under.insert(key, value);
            }
        }
    }
}

/// Fixed-window rate limits, per client IP and per API key, with upstream's
/// defaults. Off switch for benchmarks: `enabled = false` (`HORDE_RATE_LIMITS=off`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Whether limits apply at all.
    pub enabled: bool,
    /// Requests per minute per IP on endpoints without their own limit.
    pub default_per_minute: u32,
    /// Generation requests per second per IP.
    pub generate_per_second: u32,
    /// Generation requests per minute per IP.
    pub generate_per_minute: u32,
    /// Generation requests per second per API key.
    pub generate_per_key_per_second: u32,
    /// Generation requests per second for the anonymous key.
    pub generate_anonymous_per_second: u32,
    /// Checks per second per IP.
    pub check_per_second: u32,
    /// Image status calls per minute per IP and request.
    pub image_status_per_minute: u32,
    /// Text status calls per minute per IP.
    pub text_status_per_minute: u32,
    /// Pops and submits per second per IP.
    pub worker_per_second: u32,
    /// Calls from loopback (127.0.0.0/8, ::1) are never limited: for a
    /// horde embedded in a game, whose own requests and workers come from
    /// the same machine. Off by default: behind a reverse proxy on the same
    /// host every client would look local.
    pub exempt_loopback: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            default_per_minute: 90,
            generate_per_second: 2,
            generate_per_minute: 90,
            generate_per_key_per_second: 2,
            generate_anonymous_per_second: 60,
            check_per_second: 10,
            image_status_per_minute: 10,
            text_status_per_minute: 60,
            worker_per_second: 60,
            exempt_loopback: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7001)),
            data_dir: PathBuf::from("horde-data"),
            database: None,
            public_url: None,
            max_body_bytes: 20 * 1024 * 1024,
            request_ttl_secs: 20.0 * 60.0,
            max_job_ttl_secs: None,
            sweep_interval_secs: 10.0,
            default_concurrency: 30,
            anonymous_concurrency: 500,
            maintenance_mode: false,
            prompt_filter: Vec::new(),
            rate_limits: RateLimits::default(),
            connections: super::http::connections::ConnectionLimits::default(),
            models: super::reference::ModelsConfig::default(),
            news: Vec::new(),
        }
    }
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
    /// The defaults could not be written out to read a file over them.
    #[error("cannot use these defaults under a file: {message}")]
    Base {
        /// Why.
        message: String,
    },
    /// An environment variable has an invalid value.
    #[error("invalid {name}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Why.
        message: String,
    },
}

impl Config {
    /// The defaults of a horde embedded in a game
    /// ([`super::embedded::EmbeddedHorde`]): a free loopback port, loopback
    /// traffic — the game's own requests and workers — never rate-limited,
    /// and no data directory (empty: `EmbeddedHorde` makes a temporary one;
    /// set one to keep the horde's data).
    pub fn embedded() -> Self {
        Self {
            data_dir: PathBuf::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            rate_limits: RateLimits {
                exempt_loopback: true,
                ..RateLimits::default()
            },
            ..Self::default()
        }
    }

    /// Reads `path` (when given), then applies `HORDE_*` variables.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::read_over(Self::default(), path)?,
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Reads `path` over `base`: what the file sets (at any depth) wins,
    /// what it leaves out keeps `base`'s value. No `HORDE_*` variable is
    /// read: an embedder decides what its process's environment means.
    pub fn read_over(base: Self, path: &Path) -> Result<Self, ConfigError> {
        let parse = |source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // Parsed as the configuration first, for errors that name the line.
        let _: Self = toml::from_str(&text).map_err(parse)?;
        let file: toml::Table = toml::from_str(&text).map_err(parse)?;
        let mut merged = toml::Table::try_from(&base).map_err(|e| ConfigError::Base {
            message: e.to_string(),
        })?;
        overlay(&mut merged, file);
        toml::Value::Table(merged).try_into().map_err(parse)
    }

    /// Applies `HORDE_*` overrides read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("HORDE_LISTEN") {
            self.listen = v.parse().map_err(|e| ConfigError::Env {
                name: "HORDE_LISTEN",
                message: format!("{e}"),
            })?;
        }
        if let Some(v) = var("HORDE_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("HORDE_DATABASE").filter(|v| !v.is_empty()) {
            self.database = Some(v);
        }
        if let Some(v) = var("HORDE_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = var("HORDE_MAX_BODY_BYTES") {
            self.max_body_bytes = v.parse().map_err(|e| ConfigError::Env {
                name: "HORDE_MAX_BODY_BYTES",
                message: format!("{e}"),
            })?;
        }
        if let Some(v) = var("HORDE_RATE_LIMITS") {
            self.rate_limits.enabled = match v.as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                other => {
                    return Err(ConfigError::Env {
                        name: "HORDE_RATE_LIMITS",
                        message: format!("'{other}' is not on or off"),
                    });
                }
            };
        }
        Ok(())
    }

    /// The URL workers and clients reach this horde at, without a trailing slash.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_environment_configure_the_server() {
        let dir = std::env::temp_dir().join(format!("horde-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("horde.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nprompt_filter = [\"bad\"]\n[rate_limits]\ncheck_per_second = 3\n",
        )
        .expect("write");
        let mut c = Config::load(Some(&file)).expect("valid");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.rate_limits.check_per_second, 3);
        assert_eq!(
            c.rate_limits.worker_per_second, 60,
            "unset fields keep defaults"
        );
        c.apply_env(|k| match k {
            "HORDE_LISTEN" => Some("127.0.0.1:9001".into()),
            "HORDE_RATE_LIMITS" => Some("off".into()),
            "HORDE_PUBLIC_URL" => Some("https://horde.example/".into()),
            "HORDE_DATABASE" => Some("postgres://127.0.0.1/horde".into()),
            _ => None,
        })
        .expect("valid env");
        assert_eq!(c.listen.port(), 9001);
        assert!(!c.rate_limits.enabled);
        assert_eq!(c.public_url(c.listen), "https://horde.example");
        assert_eq!(c.database.as_deref(), Some("postgres://127.0.0.1/horde"));
        assert!(
            c.apply_env(|k| (k == "HORDE_RATE_LIMITS").then(|| "maybe".into()))
                .is_err()
        );
        std::fs::write(&file, "listen = 5\n").expect("write");
        assert!(matches!(
            Config::load(Some(&file)),
            Err(ConfigError::Parse { .. })
        ));
        std::fs::write(
            &file,
            "[models]\ntext.my-house-model = { parameters = 3_000_000_000 }\nimage.\"House XL\" = { baseline = \"stable_diffusion_xl\" }\n[connections]\nidle_timeout_secs = 5\nmax_connections = 64\n",
        )
        .expect("write");
        let c =
            Config::load(Some(&file)).expect("models and connections (as the README shows them)");
        assert_eq!(c.models.text["my-house-model"].parameters, 3_000_000_000);
        assert_eq!(c.connections.max_connections, 64);
        assert_eq!(c.connections.header_read_timeout_secs, 10.0);
        let over =
            Config::read_over(Config::embedded(), &file).expect("over the embedded defaults");
        assert_eq!(over.listen.port(), 0, "left out: the base's");
        assert!(
            over.rate_limits.exempt_loopback,
            "left out at depth: the base's"
        );
        assert_eq!(over.connections.max_connections, 64, "set: the file's");
        assert_eq!(over.connections.header_read_timeout_secs, 10.0);
        assert_eq!(over.models.text["my-house-model"].parameters, 3_000_000_000);
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9002\"\n[rate_limits]\nexempt_loopback = false\n",
        )
        .expect("write");
        let over = Config::read_over(Config::embedded(), &file).expect("valid");
        assert_eq!(over.listen.port(), 9002);
        assert!(!over.rate_limits.exempt_loopback);
        assert_eq!(over.rate_limits.check_per_second, 10);
        std::fs::write(&file, "no_such_field = 1\n").expect("write");
        assert!(
            Config::read_over(Config::embedded(), &file).is_err(),
            "unknown fields are refused over any base"
        );
        assert!(
            Config::load(Some(&file)).is_err(),
            "unknown fields are refused"
        );
        assert!(matches!(
            Config::load(Some(&dir.join("missing.toml"))),
            Err(ConfigError::Read { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
