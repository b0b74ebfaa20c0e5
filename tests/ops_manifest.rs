//! The guide's Kubernetes manifest (`deploy/k8s/agent.yaml`) agrees with the SDK's defaults.
//! (CI also validates it against the Kubernetes schemas with `kubernetes-validate --strict`.)

use clawops::agent::ops::{
    DEFAULT_HANDOVER_WAIT, DEFAULT_READY_FILE_NAME, HEALTH_PORT_ENV, READY_FILE_ENV,
};
use serde_json::Value;

fn manifest() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/k8s/agent.yaml");
    let text = std::fs::read_to_string(path).expect("manifest exists");
    yaml_serde::from_str(&text).expect("valid YAML")
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

#[test]
fn manifest_settings_match_the_sdk_defaults() {
    let doc = manifest();
    assert_eq!(doc["kind"], "Deployment");
    let spec = &doc["spec"];
    // One slot per number.
    assert_eq!(spec["replicas"], 1);
    // The successor starts (and connects) before the old pod gets SIGTERM.
    assert_eq!(spec["strategy"]["type"], "RollingUpdate");
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxSurge"], 1);

    let pod = &spec["template"]["spec"];
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    // Room for the handover plus real calls (the drain itself has no deadline).
    assert!(grace >= DEFAULT_HANDOVER_WAIT.as_secs() + 300, "{grace}");

    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    // Exec form, no shell or launcher as PID 1.
    let command: Vec<&str> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let argv0 = command[0].rsplit('/').next().unwrap();
    for shell in ["sh", "bash", "dash", "ash", "zsh", "busybox", "npm", "npx"] {
        assert_ne!(argv0, shell);
    }
    assert!(!command.contains(&"-c"));

    // Readiness marker at the SDK's default path, on a writable emptyDir.
    let ready = env(c, READY_FILE_ENV).unwrap();
    assert_eq!(ready, format!("/tmp/{DEFAULT_READY_FILE_NAME}"));
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/tmp")
        .expect("/tmp mounted");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert!(volume.get("emptyDir").is_some());

    // The readiness probe hits the agent's health port.
    let port: u64 = env(c, HEALTH_PORT_ENV).unwrap().parse().unwrap();
    let probe = &c["readinessProbe"]["httpGet"];
    assert_eq!(probe["path"], "/healthz");
    let named = probe["port"].as_str().unwrap();
    let declared = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == named)
        .expect("named port declared");
    assert_eq!(declared["containerPort"].as_u64(), Some(port));
    // Probes keep failing (not Ready) for at least the first connect's 10 s limit.
    let period = c["readinessProbe"]["periodSeconds"].as_u64().unwrap();
    let failures = c["readinessProbe"]["failureThreshold"].as_u64().unwrap();
    assert!(period * failures >= 10);
    // Prometheus scrapes the same port.
    let annotations = &spec["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
}
