//! `POST /api/upload/import?project_id=…&file_name=…&split=…`: an import file sent as the raw
//! request body, written to the workspace as it arrives (never held whole in memory; a 200 MB
//! file once took ~2 GB as JSON) and cut off past the import limit, then imported as
//! `import_text` imports (`Api::import_upload`). The browser UI sends files this way; the
//! `import_text` command, with the file inside its JSON, remains for the desktop shell.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use hone_api::{ApiError, Split, UPLOAD_LIMIT_BYTES};
use hone_core::ProjectId;
use tokio::io::AsyncWriteExt;

use crate::{AppState, Failure};

#[derive(serde::Deserialize)]
pub(crate) struct UploadQuery {
    project_id: ProjectId,
    /// Its extension picks the format (.jsonl, .csv, .txt).
    file_name: String,
    #[serde(default = "train")]
    split: Split,
}

fn train() -> Split {
    Split::Train
}

pub(crate) async fn import_upload(
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    body: Body,
) -> Response {
    let result = async {
        let path = state.api.upload_path(&query.file_name)?;
        if let Err(e) = write_body(&path, body, UPLOAD_LIMIT_BYTES).await {
            let _ = std::fs::remove_file(&path);
            return Err(ApiError {
                message: format!("{}: {}", query.file_name, e.message),
                ..e
            });
        }
        state
            .api
            .import_upload(query.project_id, &path, query.split)
            .await
    }
    .await;
    match result {
        Ok(report) => Json(report).into_response(),
        Err(e) => Failure(e).into_response(),
    }
}

/// Streams `body` into a new file at `path`, refusing more than `limit` bytes.
async fn write_body(path: &std::path::Path, body: Body, limit: u64) -> Result<(), ApiError> {
    let io = |e: std::io::Error| ApiError::new("io", format!("{}: {e}", path.display()));
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut chunks = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::new("bad_arguments", format!("the upload was cut off: {e}")))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(ApiError::new(
                "too_large",
                format!(
                    "the file is larger than the import limit of {} MiB",
                    limit / (1024 * 1024)
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_past_the_limit_is_refused_and_one_within_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        let chunks =
            futures_util::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1000])));
        write_body(&path, Body::from_stream(chunks), 4000)
            .await
            .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4000);
        let chunks =
            futures_util::stream::iter((0..5).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1000])));
        let err = write_body(&path, Body::from_stream(chunks), 4000)
            .await
            .unwrap_err();
        assert_eq!(err.code, "too_large");
        assert_eq!(err.http_status(), 413);
        assert!(err.message.contains("import limit"), "{}", err.message);
    }
}
