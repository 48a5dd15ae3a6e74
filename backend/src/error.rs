//! The one error type of the JSON routes: each carries a shared [`ErrorCode`]
//! (whose doc and `http_status` give its status) and becomes the shared
//! [`ApiError`] body. Internal detail is logged by the caller, never sent.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tokenbridge_shared::{ApiError, ErrorCode};

/// A failed API request.
#[derive(Debug)]
pub struct AppError(pub ApiError);

impl AppError {
    pub fn new(code: ErrorCode) -> Self {
        Self(ApiError::new(code))
    }

    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code).with_message(message))
    }
}

impl From<ErrorCode> for AppError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.0.code == ErrorCode::StoreUnavailable;
        let mut response = (status, Json(self.0)).into_response();
        if retry {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}
