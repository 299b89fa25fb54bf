//! The HTTP bridges against stand-in servers on 127.0.0.1 that speak each
//! backend's documented API (KoboldCpp, llama.cpp's llama-server,
//! AUTOMATIC1111, ComfyUI), each driving a real request through our
//! coordinator, worker and client. The stand-ins record what they were
//! sent, so the parameter and sampler mappings are checked on the wire.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use base64::Engine;
use common::TestHorde;
use common::workers::{config, generate_image, generate_text, spawn};
use horde_core::client::cancel_pair;
use horde_core::worker::backends::a1111::Automatic1111;
use horde_core::worker::backends::comfyui::ComfyUi;
use horde_core::worker::backends::kobold::KoboldCpp;
use horde_core::worker::backends::llamacpp::LlamaCppServer;
use horde_core::worker::backends::procedural::draw;
use horde_core::worker::{Backend, BackendError, Job, TextJob};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// What a stand-in was sent: (path, body).
type Log = Arc<Mutex<Vec<(String, Value)>>>;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn png(prompt: &str, seed: i64, w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(draw(prompt, seed, w, h))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn sent(log: &Log, path: &str) -> Value {
    log.lock()
        .iter()
        .rev()
        .find(|(p, _)| p == path)
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| panic!("nothing sent to {path}; log {:?}", log.lock()))
}

/// KoboldCpp stand-in: `/api/v1/model`, `/api/v1/config/max_context_length`,
/// `/api/v1/generate` (answers "<prompt> [by kobold]"), `/api/extra/abort`.
fn kobold(log: Log) -> Router {
    Router::new()
        .route(
            "/api/v1/model",
            get(|| async { axum::Json(json!({"result": "koboldcpp/stand-in-7B"})) }),
        )
        .route(
            "/api/v1/config/max_context_length",
            get(|| async { axum::Json(json!({"value": 4096})) }),
        )
        .route(
            "/api/v1/generate",
            post(
                |State(log): State<Log>, axum::Json(b): axum::Json<Value>| async move {
                    log.lock().push(("/api/v1/generate".into(), b.clone()));
                    if b["prompt"] == "hang" {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    axum::Json(json!({"results": [{"text": " [by kobold]"}]}))
                },
            ),
        )
        .route(
            "/api/extra/abort",
            post(
                |State(log): State<Log>, axum::Json(b): axum::Json<Value>| async move {
                    log.lock().push(("/api/extra/abort".into(), b));
                    axum::Json(json!({"success": "true"}))
                },
            ),
        )
        .with_state(log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn koboldcpp_bridge_passes_the_horde_payload_through() {
    let log: Log = Arc::default();
    let url = serve(kobold(log.clone())).await;
    let bridge = KoboldCpp::new(&url, None).unwrap();
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let w = spawn(
        &h,
        &owner,
        config("kobold-scribe"),
        Arc::new(bridge.clone()),
    );
    let status = generate_text(
        &h,
        &requester,
        json!({"prompt": "Hello", "models": ["koboldcpp/stand-in-7B"],
               "params": {"max_length": 40, "max_context_length": 2048, "temperature": 0.5,
                          "rep_pen": 1.08, "sampler_order": [6, 0, 1, 3, 4, 2, 5],
                          "stop_sequence": ["You:"]}}),
    )
    .await;
    assert_eq!(status.generations[0].text, " [by kobold]");
    let b = sent(&log, "/api/v1/generate");
    assert_eq!(b["prompt"], "Hello");
    assert_eq!(b["max_length"], 40);
    assert_eq!(b["max_context_length"], 2048);
    assert_eq!(b["temperature"], 0.5);
    assert_eq!(b["rep_pen"], 1.08);
    assert_eq!(b["sampler_order"], json!([6, 0, 1, 3, 4, 2, 5]));
    assert_eq!(b["stop_sequence"], json!(["You:"]));
    assert!(b["genkey"].as_str().unwrap().starts_with("HORDEREQ_"));
    assert!(b.get("n").is_none());
    w.stop().await.unwrap();

    // Cancelled mid-generation: the bridge aborts its generation by genkey.
    let job = Job::Text(TextJob {
        prompt: "hang".into(),
        model: "koboldcpp/stand-in-7B".into(),
        params: Default::default(),
        max_length: 10,
        max_context_length: 100,
    });
    let (handle, signal) = cancel_pair();
    let run = tokio::spawn(async move { bridge.run(&job, signal).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle.cancel();
    let out = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, Err(BackendError::cancelled()));
    let genkey = sent(&log, "/api/v1/generate")["genkey"].clone();
    assert_eq!(sent(&log, "/api/extra/abort")["genkey"], genkey);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_bridge_renames_settings_for_llama_server() {
    let log: Log = Arc::default();
    let app = Router::new()
        .route(
            "/props",
            get(|| async {
                axum::Json(json!({"default_generation_settings": {"n_ctx": 8192},
                                  "model_path": "/models/stand-in-8B-Q4_K_M.gguf"}))
            }),
        )
        .route(
            "/completion",
            post(
                |State(log): State<Log>, axum::Json(b): axum::Json<Value>| async move {
                    log.lock().push(("/completion".into(), b));
                    axum::Json(
                        json!({"content": " once more", "tokens_predicted": 3, "stop_type": "eos"}),
                    )
                },
            ),
        )
        .with_state(log.clone());
    let url = serve(app).await;
    let bridge = LlamaCppServer::new(&url, None).unwrap();
    let offer = bridge.offer().await.unwrap();
    assert_eq!(offer.models, ["koboldcpp/stand-in-8B-Q4_K_M"]);
    assert_eq!(offer.max_context_length, Some(8192));
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let w = spawn(&h, &owner, config("llama-scribe"), Arc::new(bridge));
    let status = generate_text(
        &h,
        &requester,
        json!({"prompt": "Again", "models": ["koboldcpp/stand-in-8B-Q4_K_M"],
               "params": {"max_length": 30, "max_context_length": 1024, "top_k": 40,
                          "typical": 0.95, "rep_pen": 1.1, "rep_pen_range": 256,
                          "singleline": true, "use_default_badwordsids": true}}),
    )
    .await;
    assert_eq!(status.generations[0].text, " once more");
    let b = sent(&log, "/completion");
    assert_eq!(b["prompt"], "Again");
    assert_eq!(b["n_predict"], 30);
    assert_eq!(b["n_keep"], 1024 - 30);
    assert_eq!(b["top_k"], 40);
    assert_eq!(b["typical_p"], 0.95);
    assert_eq!(b["repeat_penalty"], 1.1);
    assert_eq!(b["repeat_last_n"], 256);
    assert_eq!(b["ignore_eos"], true);
    assert_eq!(b["stop"], json!(["\n"]));
    let stats = w.stop().await.unwrap();
    assert!(
        stats.speed.is_some(),
        "tokens per second measured from tokens_predicted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic1111_bridge_maps_samplers_and_models_and_converts_png() {
    let log: Log = Arc::default();
    let app = Router::new()
        .route(
            "/sdapi/v1/sd-models",
            get(|| async {
                axum::Json(json!([{"title": "dreamshaper_8.safetensors [879db523c3]",
                                   "model_name": "dreamshaper_8"}]))
            }),
        )
        .route(
            "/sdapi/v1/txt2img",
            post(
                |State(log): State<Log>, axum::Json(b): axum::Json<Value>| async move {
                    log.lock().push(("/sdapi/v1/txt2img".into(), b.clone()));
                    let (w, h) = (
                        b["width"].as_u64().unwrap() as u32,
                        b["height"].as_u64().unwrap() as u32,
                    );
                    let seed = b["seed"].as_i64().unwrap();
                    let n = b["batch_size"].as_u64().unwrap() as i64;
                    let prompt = b["prompt"].as_str().unwrap().to_owned();
                    let images: Vec<String> = (0..n)
                        .map(|i| {
                            base64::engine::general_purpose::STANDARD.encode(png(
                                &prompt,
                                seed + i,
                                w,
                                h,
                            ))
                        })
                        .collect();
                    let seeds: Vec<i64> = (0..n).map(|i| seed + i).collect();
                    axum::Json(json!({"images": images, "parameters": {},
                                  "info": json!({"all_seeds": seeds}).to_string()}))
                },
            ),
        )
        .with_state(log.clone());
    let url = serve(app).await;
    let bridge = Automatic1111::new(&url, None)
        .unwrap()
        .map_model("Deliberate", "dreamshaper_8.safetensors [879db523c3]");
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let w = spawn(&h, &owner, config("a1111-dreamer"), Arc::new(bridge));
    let status = generate_image(
        &h,
        &requester,
        json!({"prompt": "a castle###blurry", "models": ["Deliberate"],
               "params": {"width": 64, "height": 128, "steps": 12, "seed": "100",
                          "sampler_name": "k_dpmpp_2m", "karras": true, "cfg_scale": 6.0,
                          "clip_skip": 2}}),
    )
    .await;
    let g = &status.generations[0];
    let (_, bytes) = h.get_bytes(&g.img).await;
    assert_eq!(&bytes[8..12], b"WEBP", "PNG converted before upload");
    let got = image::load_from_memory(&bytes).unwrap().into_rgba8();
    assert_eq!(got, draw("a castle", 100, 64, 128));
    let b = sent(&log, "/sdapi/v1/txt2img");
    assert_eq!(b["negative_prompt"], "blurry");
    assert_eq!(b["sampler_name"], "DPM++ 2M");
    assert_eq!(b["scheduler"], "Karras");
    assert_eq!(b["steps"], 12);
    assert_eq!(b["cfg_scale"], 6.0);
    assert_eq!(
        b["override_settings"],
        json!({"sd_model_checkpoint": "dreamshaper_8.safetensors [879db523c3]", "CLIP_stop_at_last_layers": 2})
    );
    w.stop().await.unwrap();
}

#[derive(Default)]
struct Comfy {
    log: Vec<(String, Value)>,
    images: Vec<Vec<u8>>,
}

type ComfyState = Arc<Mutex<Comfy>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comfyui_bridge_builds_a_graph_and_fetches_results() {
    let state: ComfyState = Arc::default();
    let app = Router::new()
        .route(
            "/object_info/CheckpointLoaderSimple",
            get(|| async {
                axum::Json(json!({"CheckpointLoaderSimple": {"input": {"required": {
                    "ckpt_name": [["sd15.safetensors", "sdxl.safetensors"]]}}}}))
            }),
        )
        .route(
            "/prompt",
            post(|State(s): State<ComfyState>, axum::Json(b): axum::Json<Value>| async move {
                let g = &b["prompt"];
                let ks = &g["3"]["inputs"];
                let latent = &g["5"]["inputs"];
                let text = g["6"]["inputs"]["text"].as_str().unwrap().to_owned();
                let (w, h) = (latent["width"].as_u64().unwrap() as u32, latent["height"].as_u64().unwrap() as u32);
                let seed = ks["seed"].as_i64().unwrap();
                let mut s = s.lock();
                s.images = (0..latent["batch_size"].as_i64().unwrap())
                    .map(|i| png(&text, seed + i, w, h))
                    .collect();
                s.log.push(("/prompt".into(), b));
                axum::Json(json!({"prompt_id": "p-1", "number": 1, "node_errors": {}}))
            }),
        )
        .route(
            "/history/{id}",
            get(|State(s): State<ComfyState>, Path(id): Path<String>| async move {
                // Unfinished on the first ask, as a busy ComfyUI is.
                let mut s = s.lock();
                let asks = s.log.iter().filter(|(p, _)| p == "/history").count();
                s.log.push(("/history".into(), json!(id)));
                if asks == 0 {
                    return axum::Json(json!({}));
                }
                let images: Vec<Value> = (0..s.images.len())
                    .map(|i| json!({"filename": format!("horde_{i:05}_.png"), "subfolder": "", "type": "output"}))
                    .collect();
                axum::Json(json!({id: {"outputs": {"9": {"images": images}},
                                       "status": {"status_str": "success", "completed": true}}}))
            }),
        )
        .route(
            "/view",
            get(|State(s): State<ComfyState>, Query(q): Query<std::collections::HashMap<String, String>>| async move {
                let name = q["filename"].clone();
                assert_eq!(q["type"], "output");
                let i: usize = name.trim_start_matches("horde_").trim_end_matches("_.png").parse().unwrap();
                s.lock().images[i].clone()
            }),
        )
        .with_state(state.clone());
    let url = serve(app).await;
    let bridge = ComfyUi::new(&url)
        .unwrap()
        .map_model("SDXL 1.0", "sdxl.safetensors");
    let offer = bridge.offer().await.unwrap();
    assert_eq!(offer.models, ["SDXL 1.0"]);
    let h = TestHorde::start().await;
    let requester = h.user("requester", 1000.0, true).await;
    let owner = h.user("owner", 0.0, true).await;
    let w = spawn(&h, &owner, config("comfy-dreamer"), Arc::new(bridge));
    let status = generate_image(
        &h,
        &requester,
        json!({"prompt": "a harbour###people", "models": ["SDXL 1.0"],
               "params": {"width": 64, "height": 64, "steps": 9, "seed": "7",
                          "sampler_name": "k_euler_a", "karras": false, "clip_skip": 2}}),
    )
    .await;
    let (_, bytes) = h.get_bytes(&status.generations[0].img).await;
    assert_eq!(
        image::load_from_memory(&bytes).unwrap().into_rgba8(),
        draw("a harbour", 7, 64, 64)
    );
    let graph = state
        .lock()
        .log
        .iter()
        .find(|(p, _)| p == "/prompt")
        .unwrap()
        .1["prompt"]
        .clone();
    assert_eq!(graph["4"]["inputs"]["ckpt_name"], "sdxl.safetensors");
    assert_eq!(graph["3"]["inputs"]["sampler_name"], "euler_ancestral");
    assert_eq!(graph["3"]["inputs"]["scheduler"], "normal");
    assert_eq!(graph["3"]["inputs"]["steps"], 9);
    assert_eq!(graph["7"]["inputs"]["text"], "people");
    assert_eq!(graph["10"]["inputs"]["stop_at_clip_layer"], -2);
    w.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_whose_server_is_down_says_so_before_popping() {
    let dead = format!("http://127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let h = TestHorde::start().await;
    let owner = h.user("owner", 0.0, true).await;
    let w = spawn(
        &h,
        &owner,
        config("no-server"),
        Arc::new(KoboldCpp::new(&dead, None).unwrap()),
    );
    let out = tokio::time::timeout(Duration::from_secs(30), w.task)
        .await
        .unwrap()
        .unwrap();
    match out {
        Err(horde_core::worker::WorkerError::Backend(e)) => {
            assert!(e.0.contains("unreachable"), "{e}")
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
    let (status, _) = h.get("/v2/workers/name/no-server", None).await;
    assert_eq!(status, 404, "it never popped");
}
