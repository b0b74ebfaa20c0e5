//! ElevenLabs streaming text-to-speech for the [pipeline](crate::providers::pipeline)
//! (cargo feature `elevenlabs`).
//!
//! One WebSocket per answer to
//! `wss://api.elevenlabs.io/v1/text-to-speech/<voice_id>/stream-input?model_id=eleven_flash_v2_5&output_format=pcm_24000`
//! with the header `xi-api-key: <ELEVENLABS_API_KEY>`:
//!
//! 1. beginning of stream: `{"text":" ","voice_settings":{"stability":0.5,"similarity_boost":0.75},"generation_config":{"chunk_length_schedule":[120,160,250,290]},"xi_api_key":"<key>"}`;
//! 2. one `{"text":"<sentence>"}` per sentence, as the model writes them (empty sentences are
//!    skipped: an empty text would end the stream);
//! 3. end of stream: `{"text":""}`.
//!
//! Every received frame with a non-empty `audio` field is base64 PCM16 LE at the rate of
//! `output_format` (`pcm_24000` → 24 kHz); other frames (`isFinal`, alignment) are ignored.
//! The stream ends when the server closes. Dropping the audio stream (barge-in) drops the
//! socket. `language_code` is not sent (as in the Python SDK, where it had no effect).
//!
//! ```no_run
//! use clawops::providers::elevenlabs::ElevenLabsTts;
//! let tts = ElevenLabsTts::builder().voice_id("EXAVITQu4vr4xnSDxMaL").build();
//! # let _ = tts;
//! ```

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::providers::pipeline::{
    ProviderError, ProviderInfo, TextStream, Tts, TtsAudio, env_key, redacted,
};

const PROVIDER: &str = "elevenlabs";
/// Default WebSocket base URL.
pub const ELEVENLABS_BASE_URL: &str = "wss://api.elevenlabs.io";
/// Default voice ("Rachel").
pub const ELEVENLABS_DEFAULT_VOICE: &str = "EXAVITQu4vr4xnSDxMaL";
/// Default model.
pub const ELEVENLABS_DEFAULT_MODEL: &str = "eleven_flash_v2_5";

/// Builds an [`ElevenLabsTts`].
#[derive(Clone)]
#[must_use]
pub struct ElevenLabsBuilder {
    api_key: String,
    base_url: String,
    voice_id: String,
    model: String,
    output_format: String,
    stability: f64,
    similarity_boost: f64,
    connect_timeout: Duration,
}

impl std::fmt::Debug for ElevenLabsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElevenLabsBuilder")
            .field("base_url", &self.base_url)
            .field("voice_id", &self.voice_id)
            .field("model", &self.model)
            .field("output_format", &self.output_format)
            .field("api_key", &redacted(&self.api_key))
            .finish_non_exhaustive()
    }
}

impl ElevenLabsBuilder {
    /// The API key (default `ELEVENLABS_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }
    /// The WebSocket base URL (default [`ELEVENLABS_BASE_URL`]).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    /// The voice (default [`ELEVENLABS_DEFAULT_VOICE`]).
    pub fn voice_id(mut self, voice: impl Into<String>) -> Self {
        self.voice_id = voice.into();
        self
    }
    /// The model (default [`ELEVENLABS_DEFAULT_MODEL`]).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }
    /// `pcm_<rate>` output format (default `pcm_24000`); only PCM formats make sense here.
    pub fn output_format(mut self, format: impl Into<String>) -> Self {
        self.output_format = format.into();
        self
    }
    /// `voice_settings.stability` (default 0.5).
    pub fn stability(mut self, v: f64) -> Self {
        self.stability = v;
        self
    }
    /// `voice_settings.similarity_boost` (default 0.75).
    pub fn similarity_boost(mut self, v: f64) -> Self {
        self.similarity_boost = v;
        self
    }
    /// WebSocket connect timeout (default 10 s).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }
    /// The provider.
    pub fn build(self) -> ElevenLabsTts {
        ElevenLabsTts { config: self }
    }
}

/// ElevenLabs `stream-input` synthesis. Cheap to clone; each [`Tts::synthesize`] opens its
/// own connection.
#[derive(Clone, Debug)]
pub struct ElevenLabsTts {
    config: ElevenLabsBuilder,
}

impl ElevenLabsTts {
    /// A builder with the Python SDK's defaults and `ELEVENLABS_API_KEY`.
    pub fn builder() -> ElevenLabsBuilder {
        ElevenLabsBuilder {
            api_key: env_key("ELEVENLABS_API_KEY"),
            base_url: ELEVENLABS_BASE_URL.to_owned(),
            voice_id: ELEVENLABS_DEFAULT_VOICE.to_owned(),
            model: ELEVENLABS_DEFAULT_MODEL.to_owned(),
            output_format: "pcm_24000".to_owned(),
            stability: 0.5,
            similarity_boost: 0.75,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The connection URL.
    ///
    /// ```
    /// use clawops::providers::elevenlabs::ElevenLabsTts;
    /// assert_eq!(
    ///     ElevenLabsTts::builder().build().url(),
    ///     "wss://api.elevenlabs.io/v1/text-to-speech/EXAVITQu4vr4xnSDxMaL/stream-input?model_id=eleven_flash_v2_5&output_format=pcm_24000"
    /// );
    /// ```
    pub fn url(&self) -> String {
        let c = &self.config;
        let seg = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!(
            "{}/v1/text-to-speech/{}/stream-input?model_id={}&output_format={}",
            c.base_url.trim_end_matches('/'),
            seg(&c.voice_id),
            c.model.replace(['&', '#', ' '], ""),
            c.output_format.replace(['&', '#', ' '], ""),
        )
    }

    /// The beginning-of-stream frame.
    pub fn bos_frame(&self) -> Value {
        json!({
            "text": " ",
            "voice_settings": {"stability": self.config.stability, "similarity_boost": self.config.similarity_boost},
            "generation_config": {"chunk_length_schedule": [120, 160, 250, 290]},
            "xi_api_key": self.config.api_key,
        })
    }
}

#[async_trait]
impl Tts for ElevenLabsTts {
    async fn synthesize(&self, text: TextStream) -> Result<TtsAudio, ProviderError> {
        let connect_err = |status: Option<u16>, message: String| ProviderError::Connect {
            provider: PROVIDER,
            status,
            message,
        };
        let mut request = self
            .url()
            .into_client_request()
            .map_err(|e| connect_err(None, e.to_string()))?;
        let key =
            HeaderValue::from_str(&self.config.api_key).map_err(|_| ProviderError::Config {
                provider: PROVIDER,
                message: "API key is not a valid header value".into(),
            })?;
        request.headers_mut().insert("xi-api-key", key);
        let limit = self.config.connect_timeout;
        let (mut socket, _) =
            tokio::time::timeout(limit, tokio_tungstenite::connect_async(request))
                .await
                .map_err(|_| connect_err(None, format!("timed out after {limit:?}")))?
                .map_err(|e| match e {
                    tokio_tungstenite::tungstenite::Error::Http(resp) => {
                        connect_err(Some(resp.status().as_u16()), "upgrade refused".into())
                    }
                    other => connect_err(None, other.to_string()),
                })?;
        socket
            .send(Message::text(self.bos_frame().to_string()))
            .await
            .map_err(|e| connect_err(None, e.to_string()))?;
        struct St {
            socket: tokio_tungstenite::WebSocketStream<
                tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
            >,
            text: Option<TextStream>,
            done: bool,
        }
        let state = St {
            socket,
            text: Some(text),
            done: false,
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            loop {
                if st.done {
                    return None;
                }
                let sending = st.text.is_some();
                tokio::select! {
                    sentence = async { match st.text.as_mut() { Some(t) => t.next().await, None => None } }, if sending => {
                        let frame = match sentence {
                            Some(s) if s.is_empty() => continue,
                            Some(s) => json!({"text": s}),
                            None => {
                                st.text = None;
                                json!({"text": ""})
                            }
                        };
                        if let Err(e) = st.socket.send(Message::text(frame.to_string())).await {
                            st.done = true;
                            return Some((Err(ProviderError::Protocol { provider: PROVIDER, message: format!("send failed: {e}") }), st));
                        }
                    }
                    msg = st.socket.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                            if let Some(audio) = v.get("audio").and_then(Value::as_str).filter(|a| !a.is_empty()) {
                                match B64.decode(audio) {
                                    Ok(pcm) => return Some((Ok(Bytes::from(pcm)), st)),
                                    Err(_) => tracing::debug!("undecodable ElevenLabs audio ignored"),
                                }
                            } else if let Some(err) = v.get("error").and_then(Value::as_str) {
                                tracing::warn!(error = %err, "ElevenLabs error message");
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => st.done = true,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            st.done = true;
                            return Some((Err(ProviderError::Protocol { provider: PROVIDER, message: e.to_string() }), st));
                        }
                    },
                }
            }
        });
        Ok(stream.boxed())
    }

    fn sample_rate(&self) -> u32 {
        self.config
            .output_format
            .rsplit('_')
            .next()
            .and_then(|r| r.parse().ok())
            .filter(|r| *r > 0)
            .unwrap_or(24_000)
    }

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new(PROVIDER, &self.config.model))
    }

    fn voice(&self) -> Option<String> {
        Some(self.config.voice_id.clone())
    }
}
