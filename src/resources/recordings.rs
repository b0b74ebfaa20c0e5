//! Call recordings: buffered download, streaming download into any `AsyncWrite`, delete.

use bytes::Bytes;
use clawops_api::ResponseValue;
use futures::StreamExt;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::resource;
use crate::client::{Failure, op, transport_error};
use crate::error::{Error, Operation, Result};

resource! {
    /// Recordings; from [`ClawOps::recordings`](crate::ClawOps::recordings).
    ///
    /// ```no_run
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// // Small files: into memory.
    /// let rec = client.recordings().download("CA1").await?;
    /// println!("{} bytes of {}", rec.data.len(), rec.content_type);
    ///
    /// // Any size: streamed to a file, never held in memory.
    /// let mut file = tokio::fs::File::create("CA1.wav").await?;
    /// let info = client.recordings().download_to("CA1", &mut file).await?;
    /// client.recordings().delete("CA1").await?;
    /// # Ok(()) }
    /// ```
    Recordings
}

/// A downloaded recording (or, from [`Recordings::download_to`], its metadata with empty `data`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordingDownload {
    /// The audio bytes (WAV, PCM16 mono 8 kHz); empty for streamed downloads.
    pub data: Bytes,
    /// `Content-Type` of the response (`audio/wav` when absent).
    pub content_type: String,
    /// File name from `Content-Disposition` (`filename*` wins over `filename`).
    pub file_name: Option<String>,
    /// Number of bytes received.
    pub len: u64,
}

const DOWNLOAD: Operation = op!("download_recording", "GET", "/recordings/{callId}");

impl Recordings {
    async fn open(&self, call_id: &str) -> Result<ResponseValue<clawops_api::ByteStream>> {
        let account = self.ctx.account();
        self.ctx
            .run_raw(DOWNLOAD, |api| {
                let (account, id) = (account.to_owned(), call_id.to_owned());
                async move {
                    api.download_recording()
                        .account_id(account)
                        .call_id(id)
                        .send()
                        .await
                        .map_err(Failure::Gen)
                }
            })
            .await
    }

    /// Downloads a recording into memory (retried as a whole like any GET).
    pub async fn download(&self, call_id: &str) -> Result<RecordingDownload> {
        let account = self.ctx.account();
        self.ctx
            .run_raw(DOWNLOAD, |api| {
                let (account, id) = (account.to_owned(), call_id.to_owned());
                async move {
                    let rv = api
                        .download_recording()
                        .account_id(account)
                        .call_id(id)
                        .send()
                        .await
                        .map_err(Failure::Gen)?;
                    let (content_type, file_name) = meta(rv.headers());
                    let mut stream = rv.into_inner().into_inner();
                    let mut buf = Vec::new();
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk.map_err(|e| transport_error(e, DOWNLOAD))?;
                        buf.extend_from_slice(&chunk);
                    }
                    Ok(RecordingDownload {
                        len: buf.len() as u64,
                        data: buf.into(),
                        content_type,
                        file_name,
                    })
                }
            })
            .await
    }

    /// Streams a recording into `writer` chunk by chunk (never holding the file in memory)
    /// and flushes it. Retries happen only before the first byte is written.
    pub async fn download_to<W>(&self, call_id: &str, writer: &mut W) -> Result<RecordingDownload>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let rv = self.open(call_id).await?;
        let (content_type, file_name) = meta(rv.headers());
        let mut stream = rv.into_inner().into_inner();
        let mut len = 0u64;
        let copy = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| transport_error(e, DOWNLOAD))?;
                writer.write_all(&chunk).await?;
                len += chunk.len() as u64;
            }
            writer.flush().await?;
            Ok::<(), Error>(())
        };
        let timeout = self
            .ctx
            .opts
            .as_ref()
            .and_then(|o| o.timeout)
            .unwrap_or(self.ctx.client.inner.timeout);
        tokio::time::timeout(timeout, copy)
            .await
            .map_err(|_| Error::Timeout {
                operation: DOWNLOAD,
            })??;
        Ok(RecordingDownload {
            data: Bytes::new(),
            content_type,
            file_name,
            len,
        })
    }

    /// Deletes a recording (idempotent).
    pub async fn delete(&self, call_id: &str) -> Result<()> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("delete_recording", "DELETE", "/recordings/{callId}"),
                |api| {
                    let (account, id) = (account.to_owned(), call_id.to_owned());
                    async move {
                        api.delete_recording()
                            .account_id(account)
                            .call_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}

fn meta(headers: &HeaderMap) -> (String, Option<String>) {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("audio/wav")
        .to_owned();
    let file_name = headers
        .get(CONTENT_DISPOSITION)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .and_then(file_name);
    (content_type, file_name)
}

/// File name from a `Content-Disposition` value: `filename*` (RFC 5987, percent-decoded
/// UTF-8), else `filename="…"`, else a bare `filename=…`.
pub(crate) fn file_name(disposition: &str) -> Option<String> {
    let params: Vec<(String, &str)> = disposition
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
        .collect();
    if let Some((_, v)) = params.iter().find(|(k, _)| k == "filename*") {
        let encoded = v.splitn(3, '\'').nth(2).unwrap_or(v);
        if let Ok(name) = percent_encoding::percent_decode_str(encoded).decode_utf8() {
            return Some(name.into_owned());
        }
    }
    params
        .iter()
        .find(|(k, _)| k == "filename")
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_disposition_file_names() {
        let h = r#"attachment; filename="CA1.wav"; filename*=UTF-8''%ED%86%B5%ED%99%94.wav"#;
        assert_eq!(super::file_name(h).as_deref(), Some("통화.wav"));
        assert_eq!(
            super::file_name(r#"attachment; filename="CA1.wav""#).as_deref(),
            Some("CA1.wav")
        );
        assert_eq!(
            super::file_name("attachment; filename=a.wav").as_deref(),
            Some("a.wav")
        );
        assert_eq!(super::file_name("attachment"), None);
    }
}
