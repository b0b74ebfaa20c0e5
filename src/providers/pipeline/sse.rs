//! Server-sent events over reqwest for the LLM providers (never panics on network input).

use std::collections::VecDeque;

use eventsource_stream::Eventsource;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{LlmEvent, LlmStream, ProviderError, body_excerpt};

/// One SSE event.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    /// `event:` field (`message` when absent).
    #[cfg_attr(not(feature = "anthropic"), allow(dead_code))]
    pub event: String,
    /// `data:` field (joined lines).
    pub data: String,
}

/// POSTs `body` as JSON and returns the SSE events of a successful answer.
pub(crate) async fn post(
    client: &reqwest::Client,
    provider: &'static str,
    url: &str,
    headers: HeaderMap,
    body: &Value,
) -> Result<BoxStream<'static, Result<SseEvent, ProviderError>>, ProviderError> {
    let resp = client
        .post(url)
        .headers(headers)
        .json(body)
        .send()
        .await
        .map_err(|e| ProviderError::Connect {
            provider,
            status: None,
            message: e.without_url().to_string(),
        })?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(ProviderError::Http {
            provider,
            status: status.as_u16(),
            body: body_excerpt(&text),
        });
    }
    Ok(resp
        .bytes_stream()
        .map_err(|e| e.without_url())
        .eventsource()
        .map(move |r| match r {
            Ok(ev) => Ok(SseEvent {
                event: ev.event,
                data: ev.data,
            }),
            Err(e) => Err(ProviderError::Protocol {
                provider,
                message: format!("SSE stream: {e}"),
            }),
        })
        .boxed())
}

/// Turns SSE events into LLM events.
pub(crate) trait SseParser: Send + 'static {
    /// Handles one event; `true` in the result ends the stream (e.g. `[DONE]`).
    fn on_event(&mut self, event: &SseEvent) -> Result<(Vec<LlmEvent>, bool), ProviderError>;
    /// Events owed at the end of the stream (accumulated tool calls).
    fn finish(&mut self) -> Vec<LlmEvent>;
}

struct State<P> {
    sse: BoxStream<'static, Result<SseEvent, ProviderError>>,
    parser: P,
    queue: VecDeque<LlmEvent>,
    done: bool,
}

/// The LLM stream of an SSE response.
pub(crate) fn llm_stream<P: SseParser>(
    sse: BoxStream<'static, Result<SseEvent, ProviderError>>,
    parser: P,
) -> LlmStream {
    let state = State {
        sse,
        parser,
        queue: VecDeque::new(),
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.queue.pop_front() {
                return Some((Ok(ev), st));
            }
            if st.done {
                return None;
            }
            match st.sse.next().await {
                Some(Ok(event)) => match st.parser.on_event(&event) {
                    Ok((events, end)) => {
                        st.queue.extend(events);
                        if end {
                            let rest = st.parser.finish();
                            st.queue.extend(rest);
                            st.done = true;
                        }
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                },
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    let rest = st.parser.finish();
                    st.queue.extend(rest);
                    st.done = true;
                }
            }
        }
    })
    .boxed()
}

/// Parses an event's data as JSON (a protocol error otherwise).
pub(crate) fn json(provider: &'static str, data: &str) -> Result<Value, ProviderError> {
    serde_json::from_str(data).map_err(|e| ProviderError::Protocol {
        provider,
        message: format!("invalid JSON in SSE data: {e}"),
    })
}
