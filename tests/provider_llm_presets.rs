//! The OpenAI-compatible presets: base URL, default model and API key variable exactly as the
//! Python SDK lists them, and each preset's key and model reaching a fake server.
//!
//! One test in its own binary: it sets process environment variables before any thread
//! starts.
#![cfg(feature = "openai-compatible")]

mod provider_common;

use clawops::providers::llm::{OpenAiCompatibleLlm, Preset};
use clawops::providers::pipeline::{ChatMessage, Llm};
use futures::StreamExt;
use provider_common::{FakeHttp, Reply};
use serde_json::json;

const TABLE: [(Preset, &str, &str, &str, Option<&str>); 9] = [
    (
        Preset::OpenAi,
        "openai",
        "https://api.openai.com/v1",
        "gpt-4o-mini",
        Some("OPENAI_API_KEY"),
    ),
    (
        Preset::Groq,
        "groq",
        "https://api.groq.com/openai/v1",
        "meta-llama/llama-4-scout-17b-16e-instruct",
        Some("GROQ_API_KEY"),
    ),
    (
        Preset::Together,
        "together",
        "https://api.together.xyz/v1",
        "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        Some("TOGETHER_API_KEY"),
    ),
    (
        Preset::Fireworks,
        "fireworks",
        "https://api.fireworks.ai/inference/v1",
        "accounts/fireworks/models/llama4-scout-instruct-basic",
        Some("FIREWORKS_API_KEY"),
    ),
    (
        Preset::DeepSeek,
        "deepseek",
        "https://api.deepseek.com",
        "deepseek-chat",
        Some("DEEPSEEK_API_KEY"),
    ),
    (
        Preset::Xai,
        "xai",
        "https://api.x.ai/v1",
        "grok-4-1-fast",
        Some("XAI_API_KEY"),
    ),
    (
        Preset::Mistral,
        "mistral",
        "https://api.mistral.ai/v1",
        "mistral-small-latest",
        Some("MISTRAL_API_KEY"),
    ),
    (
        Preset::Perplexity,
        "perplexity",
        "https://api.perplexity.ai",
        "sonar",
        Some("PERPLEXITY_API_KEY"),
    ),
    (
        Preset::Ollama,
        "ollama",
        "http://localhost:11434/v1",
        "llama3.2",
        None,
    ),
];

#[test]
fn presets_match_the_sheet_and_send_their_key_and_model() {
    // Table facts, before touching the environment.
    assert_eq!(Preset::ALL.len(), TABLE.len());
    for (preset, provider, base, model, env) in TABLE {
        assert_eq!(preset.provider(), provider);
        assert_eq!(preset.base_url(), base);
        assert_eq!(preset.default_model(), model);
        assert_eq!(preset.api_key_env(), env);
    }
    for (preset, _, _, _, env) in TABLE {
        if let Some(var) = env {
            // SAFETY: no other thread exists yet in this single-test binary.
            unsafe { std::env::set_var(var, format!("key-{}", preset.provider())) };
        }
    }
    // SAFETY: as above.
    unsafe {
        std::env::remove_var("OPENAI_BASE_URL");
        std::env::remove_var("OLLAMA_BASE_URL");
    }
    // Without base URL overrides, the request URL is the preset's.
    assert_eq!(
        OpenAiCompatibleLlm::deepseek().build().url(),
        "https://api.deepseek.com/chat/completions"
    );
    assert_eq!(
        OpenAiCompatibleLlm::ollama().build().url(),
        "http://localhost:11434/v1/chat/completions"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let replies = (0..TABLE.len() + 2)
            .map(|_| {
                Reply::data(&[json!({"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]})])
                    .done()
            })
            .collect();
        let mut fake = FakeHttp::start(replies).await;
        for (preset, provider, _, model, env) in TABLE {
            let llm = preset.builder().base_url(format!("{}/v1", fake.base_url)).build();
            assert_eq!(llm.info().unwrap().provider, provider);
            assert_eq!(llm.info().unwrap().model, model);
            let events: Vec<_> = llm
                .generate(&[ChatMessage::user("hi")], &[])
                .await
                .unwrap()
                .collect()
                .await;
            assert_eq!(events.len(), 1, "{provider}: {events:?}");
            let req = fake.request().await;
            assert_eq!(req.uri, "/v1/chat/completions");
            let key = env.map_or("ollama".to_owned(), |_| format!("key-{provider}"));
            assert_eq!(req.headers["authorization"], format!("Bearer {key}"), "{provider}");
            assert_eq!(req.body["model"], model, "{provider}");
        }
    });

    // OPENAI_BASE_URL and OLLAMA_BASE_URL move the base URL.
    // SAFETY: the runtime above is shut down; no other thread reads the environment.
    unsafe {
        std::env::set_var("OPENAI_BASE_URL", "http://127.0.0.1:9/openai/v1");
        std::env::set_var("OLLAMA_BASE_URL", "http://10.0.0.5:11434/v1");
    }
    assert_eq!(
        OpenAiCompatibleLlm::openai().build().url(),
        "http://127.0.0.1:9/openai/v1/chat/completions"
    );
    assert_eq!(
        OpenAiCompatibleLlm::ollama().build().url(),
        "http://10.0.0.5:11434/v1/chat/completions"
    );
    // Keys never show in Debug output.
    let dbg = format!("{:?}", OpenAiCompatibleLlm::groq().build());
    assert!(!dbg.contains("key-groq"), "{dbg}");
}
