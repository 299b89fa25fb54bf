//! `horde`: the command line of horde-rs.
//!
//! - `horde serve` runs a private horde (SQLite in a data directory, or
//!   `--database postgres://…` shared with other `horde serve` processes);
//! - `horde user add|rotate-key|list` manages accounts in that store;
//! - `horde generate` and `horde text` request images and text from any
//!   horde through the runtime, exactly as a game would;
//! - `horde worker --config worker.toml` lends this machine to a horde;
//! - `horde demo` runs all of it in one process.

mod demo;
mod generate;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use horde_core::api::Rc;
use horde_core::coordinator::clock::SystemClock;
use horde_core::coordinator::config::Config;
use horde_core::coordinator::error::ApiError;
use horde_core::coordinator::horde::NewUser;
use horde_core::coordinator::http::App;
use horde_core::coordinator::http::limits::Limiter;
use horde_core::coordinator::server::{self, Coordinator};

#[derive(Parser)]
#[command(
    name = "horde",
    version,
    about = "horde-rs: the AI Horde for games, and a private horde to self-host"
)]
struct Cli {
    /// Configuration file (TOML): the horde's for `serve` and `user` (HORDE_*
    /// environment variables override it), the worker file for `worker`.
    #[arg(long, global = true, env = "HORDE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database and images).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL database shared by several `horde serve` processes
    /// (postgres://user@host:port/db); default: SQLite in the data directory.
    #[arg(long, global = true, env = "HORDE_DATABASE")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a private horde.
    Serve {
        /// Address to listen on (default 127.0.0.1:7001).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Generate images on a horde and save them as PNG.
    Generate {
        /// The prompt.
        prompt: String,
        /// Where to write the image (`name.png`; with several, `name-1.png`, …).
        #[arg(short, long, default_value = "horde.png")]
        output: PathBuf,
        /// Images to make.
        #[arg(long, default_value_t = 1)]
        n: u32,
        /// Width in pixels (a multiple of 64).
        #[arg(long, default_value_t = 512)]
        width: u32,
        /// Height in pixels (a multiple of 64).
        #[arg(long, default_value_t = 512)]
        height: u32,
        /// Sampling steps.
        #[arg(long)]
        steps: Option<u32>,
        /// Model (repeat for several acceptable models).
        #[arg(long)]
        model: Vec<String>,
        #[command(flatten)]
        horde: HordeArgs,
    },
    /// Generate text on a horde and print it.
    Text {
        /// The prompt.
        prompt: String,
        /// Tokens to generate.
        #[arg(long)]
        max_length: Option<u32>,
        /// Model (repeat for several acceptable models).
        #[arg(long)]
        model: Vec<String>,
        #[command(flatten)]
        horde: HordeArgs,
    },
    /// Lend this machine to a horde: pop jobs, run them on a backend, submit.
    /// `--config` names the worker file (TOML: url, api_key, [worker],
    /// [backend]; default worker.toml).
    Worker {
        #[command(flatten)]
        key: KeyArg,
    },
    /// Everything in one process: a private horde on a temporary SQLite,
    /// workers, and an image, its caption and (with --text-model) a text
    /// requested through the runtime as a game would.
    Demo {
        /// The picture's prompt.
        #[arg(long, default_value = "a lighthouse on a cliff at dusk")]
        prompt: String,
        /// Where to write the picture.
        #[arg(short, long, default_value = "horde-demo.png")]
        output: PathBuf,
        /// A GGUF text model for a text worker run by candle.
        #[arg(long)]
        text_model: Option<PathBuf>,
    },
}

/// The API key, for commands whose horde comes from elsewhere.
#[derive(clap::Args)]
struct KeyArg {
    /// The owner's API key (overrides `api_key` in the file).
    #[arg(long, env = "HORDE_API_KEY", hide_env_values = true)]
    key: Option<String>,
}

/// Which horde to talk to, and as whom.
#[derive(clap::Args)]
struct HordeArgs {
    /// The horde's API base URL.
    #[arg(long, env = "HORDE_URL", default_value = horde_core::api::PUBLIC_HORDE_URL)]
    url: String,
    /// Your API key (anonymous by default).
    #[arg(long, env = "HORDE_API_KEY", default_value = horde_core::api::ANONYMOUS_API_KEY, hide_env_values = true)]
    key: String,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print its new API key.
    Add {
        /// The alias (the public name becomes alias#id).
        name: String,
        /// Starting kudos.
        #[arg(long, default_value_t = 0.0)]
        kudos: f64,
        /// Trusted role.
        #[arg(long)]
        trusted: bool,
        /// Moderator role (implies trusted).
        #[arg(long)]
        moderator: bool,
        /// Admin role (implies moderator).
        #[arg(long)]
        admin: bool,
        /// Jobs the user may have waiting at once (default from the configuration).
        #[arg(long)]
        concurrency: Option<u32>,
        /// Workers the user may run (default 3 untrusted, 20 trusted).
        #[arg(long)]
        workers: Option<u32>,
    },
    /// Give a user a new API key (the server must be stopped).
    RotateKey {
        /// alias#id, id, or a unique alias.
        name: String,
    },
    /// List users.
    List,
}

fn config(
    file: Option<&std::path::Path>,
    data_dir: Option<&std::path::Path>,
    database: Option<&str>,
) -> Result<Config, String> {
    let mut config = Config::load(file).map_err(|e| e.to_string())?;
    if let Some(dir) = data_dir {
        config.data_dir = dir.to_owned();
    }
    if let Some(url) = database.filter(|u| !u.is_empty()) {
        config.database = Some(url.to_owned());
    }
    Ok(config)
}

async fn serve(mut config: Config, listen: Option<SocketAddr>) -> Result<(), String> {
    if let Some(addr) = listen {
        config.listen = addr;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let data_dir = config.data_dir.clone();
    let coordinator = Coordinator::open(config, bound).map_err(|e| e.to_string())?;
    tracing::info!(%bound, data_dir = %data_dir.display(), "horde serving at http://{bound}/api");
    coordinator
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn user(config: Config, command: UserCommand) -> Result<(), String> {
    // On SQLite, adding a user is safe while a server runs (it finds new keys
    // in the database on first use); changing an existing one is not. On a
    // shared PostgreSQL store this command takes a turn like a server does.
    let shared = config.database.is_some();
    let _admin = if shared {
        None
    } else {
        Some(server::lock_admin(&config).map_err(|e| e.to_string())?)
    };
    let lock = (!shared).then(|| server::lock_data_dir(&config));
    let url = config.public_url(config.listen);
    let (horde, store, blobs) =
        server::open_state(&config, Arc::new(SystemClock), url).map_err(|e| e.to_string())?;
    let limits = Limiter::new(config.rate_limits.clone());
    let app = App::new(horde, store.clone(), blobs, limits);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = rt.block_on(async {
        match command {
            UserCommand::Add {
                name,
                kudos,
                trusted,
                moderator,
                admin,
                concurrency,
                workers,
            } => {
                let (user, key) = app
                    .run(|h| {
                        let (user, key) = h.create_user(NewUser {
                            alias: name,
                            kudos,
                            trusted,
                            moderator,
                            admin,
                        })?;
                        h.operator_update(user.id, |u| {
                            if let Some(c) = concurrency {
                                u.concurrency = c;
                            }
                            if let Some(w) = workers {
                                u.worker_invited = w;
                            }
                        })?;
                        Ok((user, key))
                    })
                    .await
                    .map_err(|e| e.body.message)?;
                eprintln!("created {} ({} kudos)", user.username, user.kudos);
                println!("{key}");
            }
            UserCommand::RotateKey { name } => {
                if matches!(lock, Some(Err(_))) {
                    return Err(
                        "stop `horde serve` on this data directory before rotating keys".into(),
                    );
                }
                let key = app
                    .run(|h| {
                        let id = h.find_user_by_name(&name).ok_or_else(|| {
                            ApiError::new(Rc::UserNotFound, format!("no user '{name}'"))
                        })?;
                        h.rotate_key(id)
                    })
                    .await
                    .map_err(|e| e.body.message)?;
                println!("{key}");
            }
            UserCommand::List => {
                let users = app
                    .read(|h| h.list_users(1, &horde_core::api::UserSort::Age))
                    .await
                    .map_err(|e| e.body.message)?;
                for u in users {
                    println!("{}\t{} kudos", u.username, u.kudos);
                }
            }
        }
        Ok(())
    });
    store.close();
    result
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Commands that need no coordinator configuration.
    let result = match cli.command {
        Command::Worker { key } => {
            let file = cli
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("worker.toml"));
            worker::WorkerFile::load(&file).and_then(|f| worker::run(f, key.key))
        }
        Command::Demo {
            prompt,
            output,
            text_model,
        } => demo::run(demo::Demo {
            prompt,
            output,
            text_model,
        }),
        command => config(
            cli.config.as_deref(),
            cli.data_dir.as_deref(),
            cli.database.as_deref(),
        )
        .and_then(|config| coordinator_command(config, command)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("horde: {e}");
            ExitCode::FAILURE
        }
    }
}

fn coordinator_command(config: Config, command: Command) -> Result<(), String> {
    match command {
        Command::Serve { listen } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(serve(config, listen))),
        Command::User { command } => user(config, command),
        Command::Generate {
            prompt,
            output,
            n,
            width,
            height,
            steps,
            model,
            horde,
        } => {
            let mut req = horde_core::api::ImageGenerateRequest::new(prompt);
            req.params = Some(horde_core::api::ImageParams {
                settings: horde_core::api::ImageSettings {
                    width: Some(width),
                    height: Some(height),
                    ..Default::default()
                },
                n: Some(n),
                steps,
                ..Default::default()
            });
            if !model.is_empty() {
                req.options.models = Some(model);
            }
            generate::images(&horde.url, &horde.key, req, &output)
        }
        Command::Text {
            prompt,
            max_length,
            model,
            horde,
        } => {
            let mut req = horde_core::api::TextGenerateRequest::new(prompt);
            req.params = Some(horde_core::api::TextParams {
                max_length,
                ..Default::default()
            });
            if !model.is_empty() {
                req.options.models = Some(model);
            }
            generate::text(&horde.url, &horde.key, req)
        }
        Command::Worker { .. } | Command::Demo { .. } => Ok(()),
    }
}
