//! `horde generate` and `horde text`: one request through the runtime, with
//! a progress line on stderr (queue position and ETA).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use horde_core::api::{ImageGenerateRequest, TextGenerateRequest};
use horde_core::client::ClientConfig;
use horde_core::runtime::{Event, Runtime, RuntimeConfig};

fn runtime(url: &str, key: &str) -> Result<Runtime, String> {
    let mut client = ClientConfig::new(format!(
        "horde-rs-cli:{}:https://example.invalid/horde-rs",
        env!("CARGO_PKG_VERSION")
    ));
    client.base_url = url.to_owned();
    client.api_key = key.to_owned();
    Runtime::start(RuntimeConfig::new(client)).map_err(|e| e.to_string())
}

/// Prints progress until the request ends; answers its events.
fn follow(rt: &Runtime) -> Result<Vec<Event>, String> {
    let mut all = Vec::new();
    let mut batch = Vec::new();
    loop {
        batch.clear();
        rt.drain_events(&mut batch);
        for e in batch.drain(..) {
            match &e {
                Event::Queued {
                    position,
                    wait_time,
                    ..
                } => {
                    eprint!("\r\x1b[2Kqueued at position {position}, about {wait_time} s to go");
                }
                Event::Progress {
                    waiting,
                    processing,
                    finished,
                    ..
                } => {
                    eprint!(
                        "\r\x1b[2K{finished} done, {processing} in progress, {waiting} waiting"
                    );
                }
                Event::Failed { error, .. } => {
                    eprintln!();
                    return Err(error.to_string());
                }
                Event::Cancelled { .. } => {
                    eprintln!();
                    return Err("cancelled".into());
                }
                Event::Completed { .. } => {
                    eprintln!();
                    all.push(e);
                    return Ok(all);
                }
                _ => {}
            }
            let _ = std::io::stderr().flush();
            all.push(e);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn numbered(path: &Path, index: usize, count: usize) -> PathBuf {
    if count <= 1 {
        return path.to_owned();
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("horde");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("png");
    path.with_file_name(format!("{stem}-{}.{ext}", index + 1))
}

/// Requests images and writes them as PNG.
pub fn images(
    url: &str,
    key: &str,
    req: ImageGenerateRequest,
    output: &Path,
) -> Result<(), String> {
    let count = req.params().n() as usize;
    let rt = runtime(url, key)?;
    rt.submit_image(req);
    let events = follow(&rt)?;
    rt.shutdown();
    for e in events {
        if let Event::ImageReady {
            index,
            width,
            height,
            rgba,
            seed,
            model,
            worker,
            ..
        } = e
        {
            let path = numbered(output, index, count);
            image::save_buffer(&path, &rgba, width, height, image::ExtendedColorType::Rgba8)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!(
                "{} ({width}x{height}, seed {seed}, {model}, by {worker})",
                path.display()
            );
        }
    }
    Ok(())
}

/// Requests text and prints it.
pub fn text(url: &str, key: &str, req: TextGenerateRequest) -> Result<(), String> {
    let rt = runtime(url, key)?;
    rt.submit_text(req);
    let events = follow(&rt)?;
    rt.shutdown();
    for e in events {
        if let Event::TextReady { text, .. } = e {
            println!("{text}");
        }
    }
    Ok(())
}
