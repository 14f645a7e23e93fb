use axum::http::StatusCode;

/// `GET /api/v1/health`: 204 while the process serves requests.
pub async fn health() -> StatusCode {
    StatusCode::NO_CONTENT
}
