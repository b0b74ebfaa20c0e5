use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::*;

/// 상품을 검색합니다. 고객이 상품을 찾을 때 사용하세요.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct SearchProducts {
    /// Free text query.
    query: String,
    category: Option<String>,
    limit: Option<u32>,
    in_stock: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

#[derive(Deserialize, JsonSchema)]
struct Count {
    n: i64,
}

fn registry() -> ToolRegistry {
    let mut r = ToolRegistry::new();
    r.register("search_products", |a: SearchProducts| async move {
        Ok::<_, String>(format!(
            "{}:{}:{}:{}",
            a.query,
            a.category.unwrap_or_default(),
            a.limit.unwrap_or(0),
            a.in_stock.unwrap_or(false)
        ))
    })
    .unwrap();
    r.register(
        "fails",
        |_: Nothing| async move { Err::<String, _>("db down") },
    )
    .unwrap();
    r.register("panics", |_: Nothing| async move {
        if true {
            panic!("boom");
        }
        Ok::<String, String>(String::new())
    })
    .unwrap();
    r.register_with_description("double", "  Doubles n.  ", |a: Count| async move {
        Ok::<_, String>(json!({"n": a.n * 2}))
    })
    .unwrap();
    r
}

#[test]
fn schema_in_neutral_format_with_doc_comments() {
    let r = registry();
    let spec = &r.specs()[0];
    assert_eq!(spec.name, "search_products");
    assert_eq!(
        spec.description,
        "상품을 검색합니다. 고객이 상품을 찾을 때 사용하세요."
    );
    assert_eq!(
        spec.parameters,
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Free text query."},
                "category": {"type": "string"},
                "limit": {"type": "integer", "minimum": 0},
                "in_stock": {"type": "boolean"}
            },
            "required": ["query"]
        })
    );
    assert_eq!(
        spec.realtime(),
        json!({"type":"function","name":"search_products","description":spec.description,"parameters":spec.parameters})
    );
    assert_eq!(spec.chat()["function"]["name"], "search_products");
    assert_eq!(spec.gemini(), spec.neutral());
    // An argument struct without fields still has properties and required.
    assert_eq!(
        r.specs()[1].parameters,
        json!({"type":"object","properties":{},"required":[]})
    );
    assert_eq!(r.specs()[3].description, "Doubles n.");
    assert_eq!(
        r.names(),
        vec!["search_products", "fails", "panics", "double"]
    );
}

#[tokio::test]
async fn executes_with_lenient_coercion() {
    let r = registry();
    assert_eq!(
        r.execute(
            "search_products",
            r#"{"query":"신발","limit":"3","in_stock":"true"}"#
        )
        .await,
        ToolOutput::Text("신발::3:true".into())
    );
    assert_eq!(
        r.execute("double", r#"{"n":21}"#).await,
        ToolOutput::Text(r#"{"n":42}"#.into())
    );
}

#[tokio::test]
async fn tool_errors_go_back_as_text() {
    let r = registry();
    let out = r.execute("fails", "").await;
    assert_eq!(out, ToolOutput::Error("db down".into()));
    assert_eq!(out.model_text().unwrap(), "Error: db down");
    let out = r.execute("search_products", r#"{"limit":1}"#).await;
    assert!(
        matches!(&out, ToolOutput::Error(m) if m.starts_with("invalid arguments for search_products: missing field `query`")),
        "{out:?}"
    );
    let out = r.execute("double", "{not json").await;
    assert!(matches!(&out, ToolOutput::Error(m) if m.starts_with("invalid JSON arguments")));
}

#[tokio::test]
async fn incident_2_unknown_tool_is_always_answered() {
    let r = registry();
    assert_eq!(
        r.execute("no_such_tool", "{}").await.model_text().unwrap(),
        "Error: Unknown tool: no_such_tool"
    );
}

#[tokio::test]
async fn a_panicking_tool_is_an_error_result_not_a_crash() {
    let r = registry();
    assert_eq!(
        r.execute("panics", "{}").await,
        ToolOutput::Error("tool panics panicked".into())
    );
    // The registry still works afterwards.
    assert!(matches!(
        r.execute("double", r#"{"n":1}"#).await,
        ToolOutput::Text(_)
    ));
}

#[test]
fn registration_rejects_conflicts_and_builtin_names() {
    let mut r = registry();
    let dup = r.register("double", |a: Count| async move {
        Ok::<_, String>(a.n.to_string())
    });
    assert!(
        matches!(dup, Err(AgentError::InvalidArgument { message, .. }) if message == "Tool name conflict: double")
    );
    let builtin = r.register("hang_up", |_: Nothing| async move { Ok::<_, String>("x") });
    assert!(builtin.is_err());
    assert!(
        r.register("bad name", |_: Nothing| async move { Ok::<_, String>("x") })
            .is_err()
    );
    assert!(
        r.register("", |_: Nothing| async move { Ok::<_, String>("x") })
            .is_err()
    );
    assert_eq!(r.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn concurrent_and_duplicate_calls_each_execute() {
    let counter = Arc::new(AtomicUsize::new(0));
    let mut r = ToolRegistry::new();
    let c = Arc::clone(&counter);
    r.register("slow", move |_: Nothing| {
        let c = Arc::clone(&c);
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, String>(c.fetch_add(1, AtomicOrdering::SeqCst).to_string())
        }
    })
    .unwrap();
    let start = tokio::time::Instant::now();
    let (a, b) = tokio::join!(r.execute("slow", "{}"), r.execute("slow", "{}"));
    assert_eq!(start.elapsed(), Duration::from_secs(1), "ran in parallel");
    let mut got = vec![a, b];
    got.sort_by_key(|o| o.model_text());
    assert_eq!(
        got,
        vec![ToolOutput::Text("0".into()), ToolOutput::Text("1".into())]
    );
}

#[tokio::test(start_paused = true)]
async fn incident_1_barge_in_cancels_running_tools_without_result() {
    let inflight = Arc::new(InFlightTools::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&finished);
    let i2 = Arc::clone(&inflight);
    let task = tokio::spawn(async move {
        i2.run(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            f.fetch_add(1, AtomicOrdering::SeqCst);
            "late"
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(inflight.len(), 1);
    assert_eq!(inflight.cancel_all(), 1);
    assert_eq!(task.await.unwrap(), None);
    assert_eq!(finished.load(AtomicOrdering::SeqCst), 0);
    assert!(inflight.is_empty());
    // Later runs are unaffected.
    assert_eq!(inflight.run(async { 7 }).await, Some(7));
}

#[test]
fn silent_output_sends_nothing() {
    assert_eq!(ToolOutput::Silent.model_text(), None);
    assert_eq!(().into_tool_output(), ToolOutput::Empty);
    assert_eq!(ToolOutput::Empty.model_text().as_deref(), Some("ok"));
    assert_eq!(json!("x").into_tool_output(), ToolOutput::Text("x".into()));
}
