//! A private horde inside a game's own process: a coordinator on two
//! threads of its own, serving on a free loopback port by default, stopped
//! (and its temporary data directory removed) when [`EmbeddedHorde`] is
//! dropped. Bevy's `HordePlugin::private`, Godot's and C's
//! `horde_server_start` all start one of these.
//!
//! ```no_run
//! use horde_core::coordinator::config::Config;
//! use horde_core::coordinator::embedded::EmbeddedHorde;
//!
//! let horde = EmbeddedHorde::start(Config::embedded()).expect("started");
//! let key = horde.game_key().expect("a key for the game");
//! println!("requests go to {} with {key}", horde.api_url());
//! ```

use std::path::{Path, PathBuf};

use super::config::Config;
use super::error::ApiError;
use super::horde::NewUser;
use super::http::AppState;
use super::server::{Coordinator, StartError};

/// Why an embedded horde did not start, or refused a call.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The threads, the temporary directory or the key file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The coordinator did not open its data directory (another server
    /// holds it: [`StartError::Locked`]; or its storage failed).
    #[error(transparent)]
    Open(#[from] StartError),
    /// The horde refused the call (an invalid alias or amount, storage).
    #[error("the horde refused: {0}")]
    Refused(#[from] ApiError),
}

impl EmbeddedError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// The name of the key file [`EmbeddedHorde::game_key`] keeps in the data
/// directory.
pub const GAME_KEY_FILE: &str = "game.key";

/// Kudos the game's own user starts with: priority for its requests on a
/// horde its players' machines serve.
pub const GAME_KUDOS: f64 = 1_000_000.0;

/// A running embedded coordinator. Dropping it stops the server (in-flight
/// calls finish first) and removes a temporary data directory.
pub struct EmbeddedHorde {
    api_url: String,
    app: AppState,
    data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    // Declared last: removed after the server stopped writing into it.
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for EmbeddedHorde {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedHorde")
            .field("api_url", &self.api_url)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl EmbeddedHorde {
    /// Starts a coordinator with `config`. An empty `config.data_dir` means
    /// a fresh temporary directory, removed when the horde is dropped; a
    /// listen port of 0 means a free one ([`Self::api_url`] names it).
    pub fn start(mut config: Config) -> Result<Self, EmbeddedError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("horde-server")
            // The game's own horde yields the CPU to the game's frame.
            .on_thread_start(crate::priority::background)
            .enable_all()
            .build()
            .map_err(EmbeddedError::io("cannot start the server's threads"))?;
        let temp = if config.data_dir.as_os_str().is_empty() {
            // On the server's threads: the name's random seed lives in a
            // thread-local, freed when the thread ends — never a C
            // caller's main thread, where it would stay allocated.
            let made = wait(&runtime, async {
                tokio::task::spawn_blocking(|| {
                    tempfile::Builder::new().prefix("horde-embedded-").tempdir()
                })
                .await
            })
            .and_then(Result::ok)
            .unwrap_or_else(|| Err(std::io::Error::other("the server's threads stopped")));
            let dir = made.map_err(EmbeddedError::io(
                "cannot create a temporary data directory",
            ))?;
            config.data_dir = dir.path().to_owned();
            Some(dir)
        } else {
            None
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.listen))
            .map_err(|source| EmbeddedError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(EmbeddedError::io("cannot read the bound address"))?;
        let api_url = format!("{}/api", config.public_url(addr));
        let data_dir = config.data_dir.clone();
        let coordinator = {
            let _enter = runtime.enter();
            Coordinator::open(config, addr)?
        };
        let app = coordinator.app();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let served = coordinator
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the embedded coordinator stopped: {e}");
            }
        });
        Ok(Self {
            api_url,
            app,
            data_dir,
            stop: Some(stop),
            task: Some(task),
            runtime: Some(runtime),
            _temp: temp,
        })
    }

    /// A horde with [`Config::embedded`]'s defaults keeping its data in
    /// `dir` (created when missing), so accounts, kudos and the game's key
    /// survive a restart.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Result<Self, EmbeddedError> {
        Self::start(Config {
            data_dir: dir.into(),
            ..Config::embedded()
        })
    }

    /// The API base clients and workers use: `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Where the horde keeps its data.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The coordinator's state, to call its rules directly.
    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// Runs `op` on the horde from outside its threads (not from inside an
    /// async runtime's thread: it blocks until the change is durable).
    pub fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut super::horde::Horde) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, EmbeddedError> {
        let app = self.app.clone();
        let runtime = self.runtime.as_ref().ok_or_else(stopped)?;
        wait(runtime, async move { app.run(op).await })
            .ok_or_else(stopped)?
            .map_err(EmbeddedError::from)
    }

    /// Registers a user; answers its API key.
    pub fn add_user(&self, user: NewUser) -> Result<String, EmbeddedError> {
        self.run(move |h| h.create_user(user).map(|(_, key)| key))
    }

    /// The API key of the game's own user (alias `game`, trusted, with
    /// [`GAME_KUDOS`]): read from [`GAME_KEY_FILE`] in the data directory
    /// when it still names a user, otherwise created and written there
    /// (readable by its owner only), so a horde in a kept directory has
    /// one game user across restarts.
    pub fn game_key(&self) -> Result<String, EmbeddedError> {
        let path = self.data_dir.join(GAME_KEY_FILE);
        if let Ok(kept) = std::fs::read_to_string(&path) {
            let kept = kept.trim().to_owned();
            let probe = kept.clone();
            if self
                .run(move |h| h.authenticate(Some(&probe), false).map(|_| ()))
                .is_ok()
            {
                return Ok(kept);
            }
        }
        let key = self.add_user(NewUser {
            alias: "game".into(),
            kudos: GAME_KUDOS,
            trusted: true,
            ..NewUser::default()
        })?;
        write_private(&path, &key).map_err(EmbeddedError::io(format!(
            "cannot write {}",
            path.display()
        )))?;
        Ok(key)
    }
}

/// Runs `work` on `runtime` and waits for its output (`None` when it
/// panicked or the runtime stopped). Outside any async runtime this thread
/// drives it; inside one (a caller's tokio thread), where that would panic,
/// the work runs on the server's threads and this thread waits for it.
fn wait<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(runtime.spawn(work)).ok();
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().ok()
}

fn stopped() -> EmbeddedError {
    EmbeddedError::Io {
        what: "the embedded horde".into(),
        source: std::io::Error::other("it has stopped"),
    }
}

/// Writes `text` to `path`, readable by its owner only where the system
/// has permissions.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

impl Drop for EmbeddedHorde {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) {
            let _ = wait(&runtime, task);
            if tokio::runtime::Handle::try_current().is_ok() {
                // Dropped on another runtime's thread, where waiting for this
                // one's blocking tasks would panic: let them end by themselves.
                runtime.shutdown_background();
            } else {
                // Waits for the storage threads, so nothing writes into the
                // data directory once this returns.
                drop(runtime);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_horde_answers_and_is_removed_when_dropped() {
        let horde = EmbeddedHorde::start(Config::embedded()).expect("started");
        let dir = horde.data_dir().to_owned();
        assert!(dir.exists());
        assert!(horde.api_url().starts_with("http://127.0.0.1:"));
        assert!(!horde.api_url().ends_with(":0/api"), "a real port");
        let key = horde.game_key().expect("key");
        assert_eq!(horde.game_key().expect("same key"), key, "kept");
        drop(horde);
        assert!(!dir.exists(), "the temporary directory is removed");
    }

    #[test]
    fn a_kept_directory_keeps_the_game_user_across_restarts() {
        let dir = tempfile::tempdir().expect("dir");
        let first = {
            let horde = EmbeddedHorde::in_dir(dir.path()).expect("started");
            horde.game_key().expect("key")
        };
        let horde = EmbeddedHorde::in_dir(dir.path()).expect("restarted");
        assert_eq!(horde.game_key().expect("key"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(GAME_KEY_FILE))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key file is the owner's only");
        }
    }

    #[test]
    fn a_key_file_naming_nobody_is_replaced_and_a_held_directory_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(GAME_KEY_FILE), "not-a-key-of-this-horde").expect("w");
        let horde = EmbeddedHorde::in_dir(dir.path()).expect("started");
        let key = horde.game_key().expect("key");
        assert_ne!(key, "not-a-key-of-this-horde");
        match EmbeddedHorde::in_dir(dir.path()) {
            Err(EmbeddedError::Open(StartError::Locked(_))) => {}
            other => panic!("a second horde on the same directory: {other:?}"),
        }
        let bad = horde.add_user(NewUser {
            alias: String::new(),
            ..NewUser::default()
        });
        assert!(matches!(bad, Err(EmbeddedError::Refused(_))), "{bad:?}");
    }
}
