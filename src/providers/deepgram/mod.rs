//! Deepgram streaming speech-to-text for the [pipeline](crate::providers::pipeline)
//! (cargo feature `deepgram`).
//!
//! One WebSocket per call to
//! `wss://api.deepgram.com/v1/listen?model=nova-3&language=ko&sample_rate=16000&encoding=linear16&channels=1&punctuate=true&interim_results=true&endpointing=300&utterance_end_ms=1000`
//! (parameters in this order) with `Authorization: Token <DEEPGRAM_API_KEY>`. Caller audio
//! goes out as binary frames of PCM16 LE 16 kHz (one 640-byte frame per 20 ms); the end of
//! the audio is signalled with an empty binary frame.
//!
//! Received `Results` become [`SpeechEvent::Interim`] (`is_final: false`, non-empty) and
//! [`SpeechEvent::Final`]; `SpeechStarted` (only sent with [`vad_events`](DeepgramBuilder::vad_events))
//! becomes [`SpeechEvent::SpeechStarted`] and `UtteranceEnd` becomes
//! [`SpeechEvent::SpeechEnded`]. Other messages are ignored.
//!
//! Deviations from the Python SDK (which discarded every `is_final` piece but the last):
//! `is_final` pieces of one utterance are joined, and the joined text is emitted at
//! `speech_final` **or** at `UtteranceEnd`, so long utterances are neither truncated nor lost.
//! While no audio flows for [`keep_alive`](DeepgramBuilder::keep_alive) (8 s by default, e.g.
//! during prewarm) a `{"type":"KeepAlive"}` text frame keeps Deepgram from closing the stream.
//!
//! ```no_run
//! use clawops::providers::deepgram::DeepgramStt;
//! let stt = DeepgramStt::builder().model("nova-3").language("ko").build();
//! # let _ = stt;
//! ```

use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::providers::pipeline::{
    AudioStream, ProviderError, ProviderInfo, SpeechEvent, SpeechEvents, Stt, env_key, redacted,
};

const PROVIDER: &str = "deepgram";
/// Default WebSocket base URL.
pub const DEEPGRAM_BASE_URL: &str = "wss://api.deepgram.com";
/// Characters escaped in query values (plain names such as `nova-3` stay as they are).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'=')
    .add(b'?');
/// Default model.
pub const DEEPGRAM_DEFAULT_MODEL: &str = "nova-3";

/// Builds a [`DeepgramStt`].
#[derive(Clone)]
#[must_use]
pub struct DeepgramBuilder {
    api_key: String,
    base_url: String,
    model: String,
    language: String,
    sample_rate: u32,
    encoding: String,
    punctuate: bool,
    interim_results: bool,
    endpointing: u32,
    utterance_end_ms: u32,
    vad_events: bool,
    keep_alive: Option<Duration>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for DeepgramBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeepgramBuilder")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("language", &self.language)
            .field("api_key", &redacted(&self.api_key))
            .finish_non_exhaustive()
    }
}

impl DeepgramBuilder {
    /// The API key (default `DEEPGRAM_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }
    /// The WebSocket base URL (default [`DEEPGRAM_BASE_URL`]; `/v1/listen` is appended).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    /// The model (default `nova-3`).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }
    /// The language (default `ko`).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = language.into();
        self
    }
    /// `punctuate` (default true).
    pub fn punctuate(mut self, on: bool) -> Self {
        self.punctuate = on;
        self
    }
    /// `interim_results` (default true; barge-in relies on them unless `vad_events` is on).
    pub fn interim_results(mut self, on: bool) -> Self {
        self.interim_results = on;
        self
    }
    /// `endpointing` in ms (default 300).
    pub fn endpointing(mut self, ms: u32) -> Self {
        self.endpointing = ms;
        self
    }
    /// `utterance_end_ms` (default 1000).
    pub fn utterance_end_ms(mut self, ms: u32) -> Self {
        self.utterance_end_ms = ms;
        self
    }
    /// Adds `vad_events=true` so Deepgram sends `SpeechStarted` (faster barge-in; off by
    /// default, like the Python SDK's URL).
    pub fn vad_events(mut self, on: bool) -> Self {
        self.vad_events = on;
        self
    }
    /// Idle time after which a `KeepAlive` is sent (`None`: never; default 8 s).
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every;
        self
    }
    /// WebSocket connect timeout (default 10 s).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }
    /// The provider.
    pub fn build(self) -> DeepgramStt {
        DeepgramStt { config: self }
    }
}

/// Deepgram live transcription over its WebSocket. Cheap to clone; each
/// [`Stt::transcribe`] opens its own connection.
#[derive(Clone, Debug)]
pub struct DeepgramStt {
    config: DeepgramBuilder,
}

impl DeepgramStt {
    /// A builder with the Python SDK's defaults and `DEEPGRAM_API_KEY`.
    pub fn builder() -> DeepgramBuilder {
        DeepgramBuilder {
            api_key: env_key("DEEPGRAM_API_KEY"),
            base_url: DEEPGRAM_BASE_URL.to_owned(),
            model: DEEPGRAM_DEFAULT_MODEL.to_owned(),
            language: "ko".to_owned(),
            sample_rate: 16_000,
            encoding: "linear16".to_owned(),
            punctuate: true,
            interim_results: true,
            endpointing: 300,
            utterance_end_ms: 1000,
            vad_events: false,
            keep_alive: Some(Duration::from_secs(8)),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The connection URL.
    ///
    /// ```
    /// use clawops::providers::deepgram::DeepgramStt;
    /// assert_eq!(
    ///     DeepgramStt::builder().build().url(),
    ///     "wss://api.deepgram.com/v1/listen?model=nova-3&language=ko&sample_rate=16000&encoding=linear16&channels=1&punctuate=true&interim_results=true&endpointing=300&utterance_end_ms=1000"
    /// );
    /// ```
    pub fn url(&self) -> String {
        let c = &self.config;
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string();
        let mut url = format!(
            "{}/v1/listen?model={}&language={}&sample_rate={}&encoding={}&channels=1&punctuate={}&interim_results={}&endpointing={}&utterance_end_ms={}",
            c.base_url.trim_end_matches('/'),
            enc(&c.model),
            enc(&c.language),
            c.sample_rate,
            enc(&c.encoding),
            c.punctuate,
            c.interim_results,
            c.endpointing,
            c.utterance_end_ms
        );
        if c.vad_events {
            url.push_str("&vad_events=true");
        }
        url
    }
}

/// Turns Deepgram messages into speech events.
#[derive(Default)]
struct Recognizer {
    segments: Vec<String>,
}

impl Recognizer {
    fn on_text(&mut self, text: &str) -> Vec<SpeechEvent> {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            tracing::debug!(len = text.len(), "non-JSON Deepgram message ignored");
            return Vec::new();
        };
        match v.get("type").and_then(Value::as_str).unwrap_or_default() {
            "SpeechStarted" => vec![SpeechEvent::SpeechStarted],
            "UtteranceEnd" => {
                let mut out = self.take_final();
                out.push(SpeechEvent::SpeechEnded);
                out
            }
            "Results" => {
                let transcript = v
                    .pointer("/channel/alternatives/0/transcript")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim();
                let is_final = v.get("is_final").and_then(Value::as_bool) == Some(true);
                let speech_final = v.get("speech_final").and_then(Value::as_bool) == Some(true);
                if !is_final {
                    if transcript.is_empty() {
                        return Vec::new();
                    }
                    let mut text = self.segments.join(" ");
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(transcript);
                    return vec![SpeechEvent::Interim(text)];
                }
                if !transcript.is_empty() {
                    self.segments.push(transcript.to_owned());
                }
                if speech_final {
                    self.take_final()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    fn take_final(&mut self) -> Vec<SpeechEvent> {
        if self.segments.is_empty() {
            return Vec::new();
        }
        let text = std::mem::take(&mut self.segments).join(" ");
        vec![SpeechEvent::Final(text)]
    }
}

#[async_trait]
impl Stt for DeepgramStt {
    async fn transcribe(&self, audio: AudioStream) -> Result<SpeechEvents, ProviderError> {
        let connect_err = |status: Option<u16>, message: String| ProviderError::Connect {
            provider: PROVIDER,
            status,
            message,
        };
        let mut request = self
            .url()
            .into_client_request()
            .map_err(|e| connect_err(None, e.to_string()))?;
        let auth =
            HeaderValue::from_str(&format!("Token {}", self.config.api_key)).map_err(|_| {
                ProviderError::Config {
                    provider: PROVIDER,
                    message: "API key is not a valid header value".into(),
                }
            })?;
        request.headers_mut().insert("Authorization", auth);
        let limit = self.config.connect_timeout;
        let (socket, _) = tokio::time::timeout(limit, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| connect_err(None, format!("timed out after {limit:?}")))?
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(resp) => {
                    connect_err(Some(resp.status().as_u16()), "upgrade refused".into())
                }
                other => connect_err(None, other.to_string()),
            })?;
        struct St {
            socket: tokio_tungstenite::WebSocketStream<
                tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
            >,
            audio: Option<AudioStream>,
            rec: Recognizer,
            queue: std::collections::VecDeque<SpeechEvent>,
            keep_alive: Option<Duration>,
            done: bool,
        }
        let state = St {
            socket,
            audio: Some(audio),
            rec: Recognizer::default(),
            queue: Default::default(),
            keep_alive: self.config.keep_alive,
            done: false,
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(ev) = st.queue.pop_front() {
                    return Some((Ok(ev), st));
                }
                if st.done {
                    return None;
                }
                let idle = st.keep_alive.unwrap_or(Duration::MAX);
                let sending = st.audio.is_some();
                tokio::select! {
                    chunk = async { match st.audio.as_mut() { Some(a) => a.next().await, None => None } }, if sending => {
                        let frame = match chunk {
                            Some(pcm) => Message::binary(pcm),
                            None => {
                                st.audio = None;
                                Message::binary(Vec::<u8>::new())
                            }
                        };
                        if let Err(e) = st.socket.send(frame).await {
                            st.done = true;
                            return Some((Err(ProviderError::Protocol { provider: PROVIDER, message: format!("send failed: {e}") }), st));
                        }
                    }
                    () = tokio::time::sleep(idle), if sending && st.keep_alive.is_some() => {
                        let _ = st.socket.send(Message::text(r#"{"type":"KeepAlive"}"#)).await;
                    }
                    msg = st.socket.next() => match msg {
                        Some(Ok(Message::Text(text))) => {
                            let events = st.rec.on_text(text.as_str());
                            st.queue.extend(events);
                        }
                        Some(Ok(Message::Close(_))) | None => {
                            st.done = true;
                        }
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

    fn info(&self) -> Option<ProviderInfo> {
        Some(ProviderInfo::new(PROVIDER, &self.config.model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finals_join_is_final_pieces_and_utterance_end_flushes() {
        let mut r = Recognizer::default();
        let res = |t: &str, f: bool, sf: bool| {
            format!(
                r#"{{"type":"Results","is_final":{f},"speech_final":{sf},"channel":{{"alternatives":[{{"transcript":"{t}"}}]}}}}"#
            )
        };
        assert_eq!(
            r.on_text(&res("안녕", false, false)),
            vec![SpeechEvent::Interim("안녕".into())]
        );
        assert!(r.on_text(&res("안녕하세요", true, false)).is_empty());
        assert_eq!(
            r.on_text(&res("주문", false, false)),
            vec![SpeechEvent::Interim("안녕하세요 주문".into())]
        );
        assert_eq!(
            r.on_text(&res("주문 확인", true, true)),
            vec![SpeechEvent::Final("안녕하세요 주문 확인".into())]
        );
        assert!(r.on_text(&res("끝", true, false)).is_empty());
        assert_eq!(
            r.on_text(r#"{"type":"UtteranceEnd"}"#),
            vec![SpeechEvent::Final("끝".into()), SpeechEvent::SpeechEnded]
        );
        assert!(r.on_text("not json").is_empty());
        assert!(r.on_text(r#"{"type":"Results"}"#).is_empty());
        assert!(r.on_text(r#"{"type":"Metadata"}"#).is_empty());
    }
}
