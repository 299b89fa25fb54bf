//! The worker's side of the wire: pop, submit, upload, fetch sources, and
//! maintenance, as methods of [`HordeClient`]. The loop in [`super::run`]
//! decides when to call them.

use base64::Engine;

use crate::api::{
    ImagePopRequest, ImagePopResponse, ImageSubmitRequest, InterrogationPopRequest,
    InterrogationPopResponse, InterrogationSubmitRequest, ModifyWorkerRequest,
    ModifyWorkerResponse, SubmitResponse, TextPopRequest, TextPopResponse, TextSubmitRequest,
    WorkerDetails, paths,
};
use crate::client::lifecycle::client_error;
use crate::client::{ClientError, HordeClient};

/// Largest source image a worker downloads (upstream's workers cap at 5 MB;
/// ours allow a little more for lossless sources).
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

impl HordeClient {
    /// `POST /v2/generate/pop`.
    pub async fn pop_image(&self, req: &ImagePopRequest) -> Result<ImagePopResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::GENERATE_POP, Some(req))
            .await
    }

    /// `POST /v2/generate/submit`.
    pub async fn submit_image_job(
        &self,
        req: &ImageSubmitRequest,
    ) -> Result<SubmitResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::GENERATE_SUBMIT, Some(req))
            .await
    }

    /// `POST /v2/generate/text/pop`.
    pub async fn pop_text(&self, req: &TextPopRequest) -> Result<TextPopResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::TEXT_POP, Some(req))
            .await
    }

    /// `POST /v2/generate/text/submit`.
    pub async fn submit_text_job(
        &self,
        req: &TextSubmitRequest,
    ) -> Result<SubmitResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::TEXT_SUBMIT, Some(req))
            .await
    }

    /// `POST /v2/interrogate/pop`.
    pub async fn pop_forms(
        &self,
        req: &InterrogationPopRequest,
    ) -> Result<InterrogationPopResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::INTERROGATE_POP, Some(req))
            .await
    }

    /// `POST /v2/interrogate/submit`.
    pub async fn submit_form(
        &self,
        req: &InterrogationSubmitRequest,
    ) -> Result<SubmitResponse, ClientError> {
        self.call(reqwest::Method::POST, paths::INTERROGATE_SUBMIT, Some(req))
            .await
    }

    /// `GET /v2/workers/name/{name}`.
    pub async fn worker_by_name(&self, name: &str) -> Result<WorkerDetails, ClientError> {
        self.get(&paths::fill(paths::WORKER_BY_NAME, "name", name))
            .await
    }

    /// `PUT /v2/workers/{id}`: maintenance, pause, info, name.
    pub async fn modify_worker(
        &self,
        id: &str,
        req: &ModifyWorkerRequest,
    ) -> Result<ModifyWorkerResponse, ClientError> {
        self.call(
            reqwest::Method::PUT,
            &paths::fill(paths::WORKER, "id", id),
            Some(req),
        )
        .await
    }

    /// PUTs a result to its upload URL (no content type, as upstream's
    /// presigned URLs expect).
    pub async fn upload(&self, url: &str, bytes: Vec<u8>) -> Result<(), ClientError> {
        let res = self
            .http()
            .put(url)
            .body(bytes)
            .send()
            .await
            .map_err(|e| ClientError::Transport(crate::client::http::with_causes(&e)))?;
        match res.status().as_u16() {
            200..=299 => Ok(()),
            s @ 500..=599 => Err(ClientError::Server(s)),
            status => Err(ClientError::Api {
                status,
                body: client_error("UploadRefused", format!("the upload URL answered {status}")),
            }),
        }
    }

    /// A source image as bytes: downloaded when it is a URL (at most
    /// [`MAX_SOURCE_BYTES`]), decoded when it is base64.
    pub async fn fetch_source(&self, source: &str) -> Result<Vec<u8>, ClientError> {
        let bad = |why: String| ClientError::Api {
            status: 400,
            body: client_error("SourceUnreadable", why),
        };
        if source.starts_with("http://") || source.starts_with("https://") {
            let mut res = self
                .http()
                .get(source)
                .send()
                .await
                .map_err(|e| ClientError::Transport(crate::client::http::with_causes(&e)))?;
            let status = res.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(bad(format!("downloading the source answered {status}")));
            }
            let mut out = Vec::new();
            while let Some(chunk) = res
                .chunk()
                .await
                .map_err(|e| ClientError::Transport(crate::client::http::with_causes(&e)))?
            {
                if out.len() + chunk.len() > MAX_SOURCE_BYTES {
                    return Err(bad(format!(
                        "the source image is larger than {MAX_SOURCE_BYTES} bytes"
                    )));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        } else {
            let data = source.split_once("base64,").map_or(source, |(_, d)| d);
            base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| bad(format!("the source image is neither a URL nor base64: {e}")))
        }
    }
}
