//! Request extractors with upstream's error shapes: JSON bodies that answer
//! `{"message", "rc", "errors"}` instead of plain-text rejections, the
//! `apikey` and client-agent headers, and the error response itself.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::api::{ErrorBody, Rc};
use crate::coordinator::error::ApiError;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut res = (status, axum::Json(self.body)).into_response();
        res.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }
}

/// A JSON body parsed into a wire type; malformed JSON, wrong types, missing
/// fields, oversize bodies and NUL bytes answer 4xx with `message` and `rc`.
pub struct JsonBody<T>(pub T);

fn schema_error(field: &str, why: String) -> ApiError {
    ApiError {
        status: 400,
        body: ErrorBody {
            message: "Input payload validation failed".into(),
            rc: Some(Rc::BadRequest),
            errors: Some([(field.to_owned(), why)].into()),
        },
    }
}

/// Parses a JSON body the way every handler needs it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(ApiError::new(
            Rc::NulByteInPayload,
            "NUL bytes are not allowed in the payload.",
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("A JSON body is required."));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        // Keyed by the field's dotted path, as upstream keys its `errors`
        // (`params.n`); a missing field by its own name under its parent.
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        let under = |field: &str| match path.as_str() {
            "." | "" => field.to_owned(),
            parent => format!("{parent}.{field}"),
        };
        if let Some(field) = text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            schema_error(&under(field), format!("'{field}' is a required property"))
        } else if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("The body is not valid JSON: {text}"))
        } else if path == "." || path.is_empty() {
            schema_error("body", text)
        } else {
            schema_error(&path, text)
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}")))?;
    Ok(value)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError {
                status: e.status().as_u16().clamp(400, 499),
                body: ErrorBody::new(Rc::BadRequest, e.body_text()),
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The `apikey` header, if sent.
pub struct ApiKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        header(parts, "apikey").map(ApiKey)
    }
}

/// The client agent (`Client-Agent`, or `client_agent` as the Python SDK
/// sends it), or `unknown:0:unknown`.
pub struct ClientAgent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let agent = match header(parts, "client-agent")? {
            Some(a) => Some(a),
            None => header(parts, "client_agent")?,
        };
        Ok(ClientAgent(agent.unwrap_or_else(|| {
            crate::api::UNKNOWN_CLIENT_AGENT.to_owned()
        })))
    }
}

/// The `Idempotency-Key` header of a transfer, if sent.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        header(parts, "idempotency-key").map(IdempotencyKey)
    }
}

fn header(parts: &Parts, name: &str) -> Result<Option<String>, ApiError> {
    match parts.headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.to_owned()))
            .map_err(|_| ApiError::bad_request(format!("The '{name}' header is not valid text."))),
    }
}

/// An error for a path or query that could not be read.
pub fn bad_query(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid query: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_what_is_wrong() {
        let e = parse_json::<crate::api::ImageGenerateRequest>(b"{}").expect_err("missing prompt");
        assert_eq!(e.status, 400);
        assert!(e.body.errors.expect("errors").contains_key("prompt"));
        let e = parse_json::<crate::api::ImageGenerateRequest>(b"{not json").expect_err("syntax");
        assert_eq!((e.status, e.body.rc), (400, Some(Rc::BadRequest)));
        let e = parse_json::<crate::api::ImageGenerateRequest>(br#"{"prompt":"a\u0000"}"#)
            .expect_err("nul");
        assert_eq!(e.body.rc, Some(Rc::NulByteInPayload));
        let e =
            parse_json::<crate::api::ImageGenerateRequest>(br#"{"prompt":5}"#).expect_err("type");
        assert_eq!(e.status, 400);
        assert!(parse_json::<crate::api::ImageGenerateRequest>(b"").is_err());
    }
}
