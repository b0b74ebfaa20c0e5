//! The pipeline LLMs against fake SSE servers on 127.0.0.1: exact request URLs, headers and
//! bodies, and a tool-call round trip for each wire protocol.
#![cfg(feature = "pipeline")]

mod provider_common;

#[allow(unused_imports)]
use clawops::providers::pipeline::{ChatMessage, Llm, LlmEvent, ProviderError, ToolCall, ToolSpec};
#[allow(unused_imports)]
use provider_common::{FakeHttp, Reply};
#[allow(unused_imports)]
use serde_json::{Value, json};

const SYSTEM: &str = "친절한 상담원입니다.";

#[allow(dead_code)]
fn lookup_tool() -> ToolSpec {
    ToolSpec::new(
        "lookup",
        "Look up",
        json!({"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}),
    )
}

#[allow(dead_code)]
fn round_trip_history() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(SYSTEM),
        ChatMessage::user("[통화 시작]"),
        ChatMessage::assistant_tool_calls(
            Some("hi".into()),
            vec![ToolCall::new("call_x", "lookup", r#"{"order_id":"1"}"#)],
        ),
        ChatMessage::tool("call_x", "shipped"),
    ]
}

#[allow(dead_code)]
async fn collect(
    llm: &dyn Llm,
    messages: &[ChatMessage],
    tools: &[ToolSpec],
) -> Vec<Result<LlmEvent, ProviderError>> {
    use futures::StreamExt;
    let stream = llm
        .generate(messages, tools)
        .await
        .expect("request accepted");
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.collect::<Vec<_>>(),
    )
    .await
    .expect("stream ends")
}

#[allow(dead_code)]
fn ok(events: Vec<Result<LlmEvent, ProviderError>>) -> Vec<LlmEvent> {
    events
        .into_iter()
        .map(|e| e.expect("no stream error"))
        .collect()
}

#[cfg(feature = "openai-compatible")]
mod openai_compatible {
    use super::*;
    use clawops::providers::llm::OpenAiCompatibleLlm;

    fn chunk(delta: Value, finish: Option<&str>) -> Value {
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",
            "choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
    }

    #[tokio::test]
    async fn sse_round_trip_with_a_tool_call_exact_request_and_headers() {
        let tool_turn = Reply::data(&[
            chunk(json!({"role":"assistant","content":""}), None),
            chunk(json!({"content":"확인"}), None),
            chunk(json!({"content":"해 볼게요."}), None),
            chunk(json!({"tool_calls":[{"index":0,"id":"call_x","type":"function","function":{"name":"lookup","arguments":""}}]}), None),
            chunk(json!({"tool_calls":[{"index":0,"function":{"arguments":"{\"order_id\":"}}]}), None),
            chunk(json!({"tool_calls":[{"index":0,"function":{"arguments":"\"1\"}"}}]}), None),
            chunk(json!({}), Some("tool_calls")),
            json!({"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}),
        ])
        .done();
        let answer = Reply::data(&[
            chunk(json!({"content":"배송 "}), None),
            chunk(json!({"content":"완료입니다."}), None),
            chunk(json!({}), Some("stop")),
        ])
        .done();
        let mut fake = FakeHttp::start(vec![tool_turn, answer]).await;
        let llm = OpenAiCompatibleLlm::openai()
            .api_key("sk-test")
            .base_url(format!("{}/v1", fake.base_url))
            .build();
        let tools = [lookup_tool()];

        let first = vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user("[통화 시작]"),
        ];
        let events = ok(collect(&llm, &first, &tools).await);
        assert_eq!(
            events,
            vec![
                LlmEvent::Text("확인".into()),
                LlmEvent::Text("해 볼게요.".into()),
                LlmEvent::ToolCalls(vec![ToolCall::new(
                    "call_x",
                    "lookup",
                    r#"{"order_id":"1"}"#
                )]),
            ]
        );
        let req = fake.request().await;
        assert_eq!(req.method, "POST");
        assert_eq!(req.uri, "/v1/chat/completions");
        assert_eq!(req.headers["authorization"], "Bearer sk-test");
        assert_eq!(req.headers["content-type"], "application/json");
        assert_eq!(req.headers["accept"], "application/json");
        let tools_json = json!([{"type":"function","function":{"name":"lookup","description":"Look up",
            "parameters":{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}}}]);
        assert_eq!(
            req.body,
            json!({"model":"gpt-4o-mini","stream":true,
                "messages":[{"role":"system","content":SYSTEM},{"role":"user","content":"[통화 시작]"}],
                "max_tokens":4096,"temperature":0.8,"tools":tools_json})
        );

        // The tool result goes back as chat messages (the sheet's exact body).
        let events = ok(collect(&llm, &round_trip_history(), &tools).await);
        assert_eq!(
            events,
            vec![
                LlmEvent::Text("배송 ".into()),
                LlmEvent::Text("완료입니다.".into())
            ]
        );
        let req = fake.request().await;
        assert_eq!(
            req.body,
            json!({"model":"gpt-4o-mini","stream":true,
             "messages":[
               {"role":"system","content":SYSTEM},
               {"role":"user","content":"[통화 시작]"},
               {"role":"assistant","content":"hi","tool_calls":[{"id":"call_x","type":"function","function":{"name":"lookup","arguments":"{\"order_id\":\"1\"}"}}]},
               {"role":"tool","tool_call_id":"call_x","content":"shipped"}],
             "max_tokens":4096,"temperature":0.8,"tools":tools_json})
        );
    }

    #[tokio::test]
    async fn no_tools_key_when_empty_and_parallel_calls_sorted_by_index() {
        let reply = Reply::data(&[
            chunk(json!({"tool_calls":[{"index":1,"id":"call_b","function":{"name":"b","arguments":"{}"}}]}), None),
            chunk(json!({"tool_calls":[{"index":0,"id":"call_a","function":{"name":"a","arguments":"{\"x\":1}"}}]}), None),
            // Some compatible servers finish tool calls with "stop": the calls are kept.
            chunk(json!({}), Some("stop")),
        ])
        .done();
        let mut fake = FakeHttp::start(vec![reply]).await;
        let llm = OpenAiCompatibleLlm::builder(format!("{}/v1/", fake.base_url), "my-model", "k")
            .temperature(None)
            .max_tokens(None)
            .build();
        let events = ok(collect(&llm, &[ChatMessage::user("hi")], &[]).await);
        assert_eq!(
            events,
            vec![LlmEvent::ToolCalls(vec![
                ToolCall::new("call_a", "a", r#"{"x":1}"#),
                ToolCall::new("call_b", "b", "{}"),
            ])]
        );
        let req = fake.request().await;
        assert_eq!(
            req.body,
            json!({"model":"my-model","stream":true,"messages":[{"role":"user","content":"hi"}]})
        );
        assert_eq!(llm.info().unwrap().provider, "openai_compatible");
    }

    #[tokio::test]
    async fn http_errors_sse_errors_and_garbage_never_panic() {
        let mut fake = FakeHttp::start(vec![
            Reply::raw(401, r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#),
            Reply::data(&[json!({"error":{"message":"overloaded","type":"server_error"}})]),
            Reply::raw(200, "data: {not json\n\n"),
            Reply::raw(200, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n\u{0}\u{ff}garbage without newline"),
        ])
        .await;
        let llm = OpenAiCompatibleLlm::groq()
            .api_key("k")
            .base_url(&fake.base_url)
            .build();
        let err = llm
            .generate(&[ChatMessage::user("x")], &[])
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, ProviderError::Http { status: 401, .. }),
            "{err:?}"
        );
        let events = collect(&llm, &[ChatMessage::user("x")], &[]).await;
        assert!(
            matches!(&events[..], [Err(ProviderError::Protocol { message, .. })] if message == "overloaded"),
            "{events:?}"
        );
        let events = collect(&llm, &[ChatMessage::user("x")], &[]).await;
        assert!(
            matches!(&events[..], [Err(ProviderError::Protocol { .. })]),
            "{events:?}"
        );
        let events = collect(&llm, &[ChatMessage::user("x")], &[]).await;
        assert_eq!(
            events.first().map(|e| e.clone().ok()),
            Some(Some(LlmEvent::Text("a".into())))
        );
        for _ in 0..4 {
            fake.request().await;
        }
    }
}

#[cfg(feature = "anthropic")]
mod anthropic {
    use super::*;
    use clawops::providers::llm::AnthropicLlm;

    #[tokio::test]
    async fn headers_body_and_sse_tool_use_round_trip() {
        let tool_turn = Reply::named(&[
            (
                "message_start",
                json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-6","stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}),
            ),
            (
                "content_block_start",
                json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
            ),
            ("ping", json!({"type":"ping"})),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"확인해 "}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"볼게요."}}),
            ),
            (
                "content_block_stop",
                json!({"type":"content_block_stop","index":0}),
            ),
            (
                "content_block_start",
                json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01A","name":"lookup","input":{}}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"order_id\": "}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"1\"}"}}),
            ),
            (
                "content_block_stop",
                json!({"type":"content_block_stop","index":1}),
            ),
            (
                "message_delta",
                json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}),
            ),
            ("message_stop", json!({"type":"message_stop"})),
        ]);
        let answer = Reply::named(&[
            (
                "content_block_start",
                json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
            ),
            (
                "content_block_delta",
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"배송 완료입니다."}}),
            ),
            (
                "content_block_stop",
                json!({"type":"content_block_stop","index":0}),
            ),
            ("message_stop", json!({"type":"message_stop"})),
        ]);
        let mut fake = FakeHttp::start(vec![tool_turn, answer]).await;
        let llm = AnthropicLlm::builder()
            .api_key("sk-ant-test")
            .base_url(&fake.base_url)
            .build();
        let tools = [lookup_tool()];
        let first = vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user("[통화 시작]"),
        ];
        let events = ok(collect(&llm, &first, &tools).await);
        assert_eq!(
            events,
            vec![
                LlmEvent::Text("확인해 ".into()),
                LlmEvent::Text("볼게요.".into()),
                LlmEvent::ToolCalls(vec![ToolCall::new(
                    "toolu_01A",
                    "lookup",
                    r#"{"order_id": "1"}"#
                )]),
            ]
        );
        let req = fake.request().await;
        assert_eq!(req.method, "POST");
        assert_eq!(req.uri, "/v1/messages");
        assert_eq!(req.headers["x-api-key"], "sk-ant-test");
        assert_eq!(req.headers["anthropic-version"], "2023-06-01");
        assert_eq!(req.headers["content-type"], "application/json");
        assert_eq!(req.headers["accept"], "application/json");
        let tools_json = json!([{"name":"lookup","description":"Look up","input_schema":{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}}]);
        assert_eq!(
            req.body,
            json!({"max_tokens":4096,"model":"claude-sonnet-4-6","system":SYSTEM,"temperature":0.8,"stream":true,
                "messages":[{"role":"user","content":"[통화 시작]"}],"tools":tools_json})
        );

        let events = ok(collect(&llm, &round_trip_history(), &tools).await);
        assert_eq!(events, vec![LlmEvent::Text("배송 완료입니다.".into())]);
        let req = fake.request().await;
        assert_eq!(
            req.body,
            json!({"max_tokens":4096,"model":"claude-sonnet-4-6","system":SYSTEM,"temperature":0.8,"stream":true,
             "messages":[{"role":"user","content":"[통화 시작]"},
               {"role":"assistant","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"call_x","name":"lookup","input":{"order_id":"1"}}]},
               {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_x","content":"shipped"}]}],
             "tools":tools_json})
        );
    }

    #[tokio::test]
    async fn empty_history_fallback_and_error_event() {
        let mut fake = FakeHttp::start(vec![Reply::named(&[(
            "error",
            json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
        )])])
        .await;
        let llm = AnthropicLlm::builder()
            .api_key("k")
            .base_url(&fake.base_url)
            .temperature(None)
            .build();
        let events = collect(&llm, &[ChatMessage::system("")], &[]).await;
        assert!(
            matches!(&events[..], [Err(ProviderError::Protocol { message, .. })] if message == "Overloaded"),
            "{events:?}"
        );
        let req = fake.request().await;
        assert_eq!(
            req.body,
            json!({"max_tokens":4096,"model":"claude-sonnet-4-6","stream":true,
                "messages":[{"role":"user","content":"[통화 시작] 첫 인사를 해주세요."}]})
        );
    }
}

#[cfg(feature = "gemini")]
mod gemini {
    use super::*;
    use clawops::providers::llm::GeminiLlm;
    use std::sync::Arc;

    #[tokio::test]
    async fn url_key_body_and_sse_function_call_round_trip() {
        let tool_turn = Reply::data(&[
            json!({"candidates":[{"content":{"parts":[{"text":"확인해 볼게요."}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash"}),
            json!({"candidates":[{"content":{"parts":[{"functionCall":{"name":"lookup","args":{"order_id":"1"}}}],"role":"model"},"finishReason":"STOP","index":0}],
                "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15}}),
        ]);
        let answer = Reply::data(&[
            json!({"usageMetadata":{"promptTokenCount":1}}),
            json!({"candidates":[{"content":{"parts":[{"text":"배송 "},{"text":"완료입니다."}],"role":"model"},"index":0}]}),
            json!({"candidates":[{"finishReason":"STOP","index":0}]}),
        ]);
        let mut fake = FakeHttp::start(vec![tool_turn, answer]).await;
        let llm = GeminiLlm::builder()
            .api_key("g-key")
            .base_url(&fake.base_url)
            .build();
        let tools = [lookup_tool()];
        let first = vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user("[통화 시작]"),
        ];
        let events = ok(collect(&llm, &first, &tools).await);
        assert_eq!(
            events,
            vec![
                LlmEvent::Text("확인해 볼게요.".into()),
                LlmEvent::ToolCalls(vec![ToolCall::new(
                    "call_lookup_0",
                    "lookup",
                    r#"{"order_id":"1"}"#
                )]),
            ]
        );
        let req = fake.request().await;
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.uri,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(req.headers["x-goog-api-key"], "g-key");
        assert_eq!(req.headers["content-type"], "application/json");
        let tools_json = json!([{"functionDeclarations":[{"name":"lookup","description":"Look up",
            "parameters":{"type":"OBJECT","properties":{"order_id":{"type":"STRING"}},"required":["order_id"]}}]}]);
        assert_eq!(
            req.body,
            json!({"contents":[{"role":"user","parts":[{"text":"[통화 시작]"}]}],
                "systemInstruction":{"role":"user","parts":[{"text":SYSTEM}]},
                "tools":tools_json,
                "generationConfig":{"temperature":0.8,"maxOutputTokens":4096}})
        );

        let events = ok(collect(&llm, &round_trip_history(), &tools).await);
        assert_eq!(
            events,
            vec![
                LlmEvent::Text("배송 ".into()),
                LlmEvent::Text("완료입니다.".into())
            ]
        );
        let req = fake.request().await;
        assert_eq!(
            req.body,
            json!({"contents":[{"role":"user","parts":[{"text":"[통화 시작]"}]},
              {"role":"model","parts":[{"text":"hi"},{"functionCall":{"name":"lookup","args":{"order_id":"1"}}}]},
              {"role":"user","parts":[{"functionResponse":{"name":"lookup","response":{"result":"shipped"}}}]}],
             "systemInstruction":{"role":"user","parts":[{"text":SYSTEM}]},
             "tools":tools_json,
             "generationConfig":{"temperature":0.8,"maxOutputTokens":4096}})
        );
    }

    #[tokio::test]
    async fn vertex_ai_sends_a_bearer_token_to_the_resource_path_and_no_key() {
        let answer = Reply::data(&[
            json!({"candidates":[{"content":{"parts":[{"text":"네."}],"role":"model"},"finishReason":"STOP","index":0}]}),
        ]);
        let mut fake = FakeHttp::start(vec![answer]).await;
        let asked = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = asked.clone();
        let llm = GeminiLlm::builder()
            .api_key("ignored-key")
            .vertex("my-proj", "us-central1")
            .vertex_token_provider(Arc::new(move || {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Box::pin(async move { Ok(format!("ya29.token-{n}")) })
            }))
            .base_url(&fake.base_url)
            .build();
        let events = ok(collect(&llm, &[ChatMessage::user("x")], &[]).await);
        assert_eq!(events, vec![LlmEvent::Text("네.".into())]);
        let req = fake.request().await;
        assert_eq!(
            req.uri,
            "/v1beta1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(req.headers["authorization"], "Bearer ya29.token-0");
        assert!(
            !req.headers.contains_key("x-goog-api-key"),
            "{:?}",
            req.headers
        );
        assert_eq!(
            req.body,
            json!({"contents":[{"role":"user","parts":[{"text":"x"}]}],
                "generationConfig":{"temperature":0.8,"maxOutputTokens":4096}})
        );
        // The token source is asked for every request (tokens expire).
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A failing token source is a typed configuration error, nothing is sent.
        let failing = GeminiLlm::builder()
            .vertex("my-proj", "us-central1")
            .vertex_token_provider(Arc::new(|| {
                Box::pin(async { Err("no credentials".to_owned()) })
            }))
            .base_url(&fake.base_url)
            .build();
        let err = failing
            .generate(&[ChatMessage::user("x")], &[])
            .await
            .err()
            .unwrap();
        assert!(
            matches!(&err, ProviderError::Config { provider: "gemini", message } if message == "no credentials"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn error_payload_and_unknown_tool_name_fallback() {
        let mut fake = FakeHttp::start(vec![
            Reply::data(&[json!({"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}})]),
            Reply::raw(403, r#"{"error":{"code":403,"message":"denied"}}"#),
        ])
        .await;
        let llm = GeminiLlm::builder()
            .api_key("g")
            .base_url(&fake.base_url)
            .model("gemini-2.0-flash")
            .build();
        let history = vec![ChatMessage::tool("call_missing", "x")];
        let events = collect(&llm, &history, &[]).await;
        assert!(
            matches!(&events[..], [Err(ProviderError::Protocol { message, .. })] if message == "API key not valid"),
            "{events:?}"
        );
        let req = fake.request().await;
        assert_eq!(
            req.uri,
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            req.body,
            json!({"contents":[{"role":"user","parts":[{"functionResponse":{"name":"unknown","response":{"result":"x"}}}]}],
                "generationConfig":{"temperature":0.8,"maxOutputTokens":4096}})
        );
        let err = llm
            .generate(&[ChatMessage::user("x")], &[])
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                ProviderError::Http {
                    provider: "gemini",
                    status: 403,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
