//! The HTTP plumbing the bridges share: one base URL, optional auth, JSON
//! in and out, and errors worded for the worker's log.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::BackendError;

/// A local inference server the worker bridges to.
#[derive(Clone, Debug)]
pub(crate) struct Server {
    base: String,
    http: reqwest::Client,
    auth: Option<String>,
    what: &'static str,
}

impl Server {
    /// A server at `base` (`http://127.0.0.1:5001`); `what` names it in errors.
    pub(crate) fn new(
        what: &'static str,
        base: &str,
        auth: Option<String>,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| BackendError(format!("cannot make an HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            auth,
            what,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match &self.auth {
            Some(a) => req.header(reqwest::header::AUTHORIZATION, a),
            None => req,
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<Vec<u8>, BackendError> {
        let res = req.send().await.map_err(|e| {
            BackendError(format!(
                "{} at {} is unreachable: {e}",
                self.what, self.base
            ))
        })?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| BackendError(format!("{} broke off its answer: {e}", self.what)))?;
        if !status.is_success() {
            let body: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            return Err(BackendError(format!(
                "{} answered {status} to {path}: {body}",
                self.what
            )));
        }
        Ok(bytes.to_vec())
    }

    fn parse<T: DeserializeOwned>(&self, bytes: &[u8], path: &str) -> Result<T, BackendError> {
        serde_json::from_slice(bytes).map_err(|e| {
            BackendError(format!(
                "{} sent an unexpected answer to {path}: {e}",
                self.what
            ))
        })
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, BackendError> {
        let bytes = self
            .send(self.request(reqwest::Method::GET, path), path)
            .await?;
        self.parse(&bytes, path)
    }

    pub(crate) async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, BackendError> {
        self.send(self.request(reqwest::Method::GET, path), path)
            .await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, BackendError> {
        let req = self.request(reqwest::Method::POST, path).json(body);
        let bytes = self.send(req, path).await?;
        self.parse(&bytes, path)
    }

    /// A best-effort POST whose answer does not matter (aborts, interrupts).
    pub(crate) async fn poke(&self, path: &str, body: &(impl Serialize + ?Sized)) {
        let req = self.request(reqwest::Method::POST, path).json(body);
        if let Err(e) = self.send(req, path).await {
            tracing::debug!(error = %e, "{} did not take {path}", self.what);
        }
    }
}

/// A JSON body built field by field, leaving out settings the request did
/// not give (so the server's own defaults apply).
#[derive(Default)]
pub(crate) struct Body(Map<String, Value>);

impl Body {
    /// Sets `key`.
    pub(crate) fn set(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.0.insert(key.to_owned(), v);
        }
        self
    }

    /// Sets `key` when `value` is given.
    pub(crate) fn opt(&mut self, key: &str, value: Option<impl Serialize>) -> &mut Self {
        if let Some(v) = value {
            self.set(key, v);
        }
        self
    }

    /// The finished body.
    pub(crate) fn build(&mut self) -> Value {
        Value::Object(std::mem::take(&mut self.0))
    }
}
