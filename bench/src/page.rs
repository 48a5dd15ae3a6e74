//! The page's weight (raw, gzip -9, brotli q11), next to a bare Leptos page
//! built the same way, and the time from navigation to the token card in
//! headless Chromium (Performance API).

use std::{io::Write, path::Path, process::Stdio, time::Duration};

use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};

#[derive(Default, Clone, Copy)]
pub struct Size {
    pub raw: usize,
    pub gzip: usize,
    pub brotli: usize,
}

impl std::ops::AddAssign for Size {
    fn add_assign(&mut self, other: Self) {
        self.raw += other.raw;
        self.gzip += other.gzip;
        self.brotli += other.brotli;
    }
}

pub struct Sizes {
    /// html, js, wasm, css
    pub ours: [Size; 4],
    pub reference: Option<[Size; 4]>,
}

const KINDS: [&str; 4] = ["html", "js", "wasm", "css"];

fn compress(bytes: &[u8]) -> Size {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = gzip.write_all(bytes);
    let gzip = gzip.finish().map(|v| v.len()).unwrap_or(0);
    let mut brotli = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut brotli, 4096, 11, 22);
        let _ = writer.write_all(bytes);
    }
    Size {
        raw: bytes.len(),
        gzip,
        brotli: brotli.len(),
    }
}

fn measure(dist: &Path) -> Option<[Size; 4]> {
    let mut sizes = [Size::default(); 4];
    let entries = std::fs::read_dir(dist).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(kind) = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(|e| KINDS.iter().position(|k| *k == e))
        else {
            continue;
        };
        if let Ok(bytes) = std::fs::read(&path) {
            sizes[kind] += compress(&bytes);
        }
    }
    Some(sizes)
}

pub fn sizes(dist: &Path, reference: &Path) -> Sizes {
    Sizes {
        ours: measure(dist).unwrap_or_default(),
        reference: measure(reference),
    }
}

fn total(sizes: &[Size; 4]) -> Size {
    let mut sum = Size::default();
    for size in sizes {
        sum += *size;
    }
    sum
}

/// Milliseconds from navigation start to the token card, over `loads` loads of a signed-in page.
pub async fn time_to_token_card(base: &str, loads: usize) -> Result<Vec<f64>, String> {
    if loads == 0 {
        return Ok(Vec::new());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let driver_path =
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let mut driver = std::process::Command::new(&driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {driver_path}: {e}"))?;
    let result = async {
        let profile = std::env::temp_dir().join(format!("tokenbridge-bench-chrome-{}", std::process::id()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", format!("--user-data-dir={}", profile.display()),
            ]}),
        );
        let mut client = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            if let Ok(c) = ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&format!("http://127.0.0.1:{port}")).await {
                client = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let client = client.ok_or("chromedriver did not start a browser")?;
        let times = async {
            // Sign in once: the stub allows at once and sends the browser back.
            client.goto(&format!("{base}/auth/login")).await.map_err(|e| e.to_string())?;
            client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("[data-testid=access-token]")).await.map_err(|e| e.to_string())?;
            let mut times = Vec::new();
            for _ in 0..loads {
                client.goto(base).await.map_err(|e| e.to_string())?;
                let script = "const done = arguments[arguments.length - 1];
                    const look = () => document.querySelector('[data-testid=access-token]') ? done(performance.now()) : requestAnimationFrame(look);
                    look();";
                let at = client.execute_async(script, vec![]).await.map_err(|e| e.to_string())?;
                if let Some(ms) = at.as_f64() {
                    times.push(ms);
                }
            }
            Ok::<_, String>(times)
        }
        .await;
        // Closed whatever happened: chromedriver killed with its session open leaves the
        // browser running.
        let _ = client.close().await;
        let _ = std::fs::remove_dir_all(profile);
        times
    }
    .await;
    let _ = driver.kill();
    let _ = driver.wait();
    result
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

pub fn print(sizes: &Sizes, loads: &Result<Vec<f64>, String>) {
    println!(
        "{:<10} {:>10} {:>10} {:>10}",
        "page file", "raw", "gzip -9", "brotli 11"
    );
    for (kind, size) in KINDS.iter().zip(&sizes.ours) {
        println!(
            "{kind:<10} {:>10} {:>10} {:>10}",
            kb(size.raw),
            kb(size.gzip),
            kb(size.brotli)
        );
    }
    let ours = total(&sizes.ours);
    println!(
        "{:<10} {:>10} {:>10} {:>10}",
        "first load",
        kb(ours.raw),
        kb(ours.gzip),
        kb(ours.brotli)
    );
    match &sizes.reference {
        Some(reference) => {
            let reference = total(reference);
            println!(
                "bare Leptos 0.8 page (one button, one fetch), same build: {} brotli; tokenbridge is {:.2}× it",
                kb(reference.brotli),
                ours.brotli as f64 / reference.brotli.max(1) as f64
            );
        }
        None => println!("bare Leptos reference page: not built (scripts/bench.sh builds it)"),
    }
    match loads {
        Ok(times) if !times.is_empty() => {
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "navigation to token card, {} loads: median {:.0} ms, min {:.0} ms, max {:.0} ms",
                sorted.len(),
                sorted[sorted.len() / 2],
                sorted[0],
                sorted[sorted.len() - 1]
            );
        }
        Ok(_) => println!("navigation to token card: no load measured"),
        Err(error) => println!("navigation to token card: not measured ({error})"),
    }
}

pub fn to_json(sizes: &Sizes, loads: &Result<Vec<f64>, String>) -> Value {
    let files = |s: &[Size; 4]| {
        KINDS
            .iter()
            .zip(s)
            .map(|(k, s)| {
                (
                    k.to_string(),
                    json!({"raw": s.raw, "gzip": s.gzip, "brotli": s.brotli}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
    };
    let ours = total(&sizes.ours);
    json!({
        "files": files(&sizes.ours),
        "first_load": {"raw": ours.raw, "gzip": ours.gzip, "brotli": ours.brotli},
        "reference_first_load_brotli": sizes.reference.as_ref().map(|r| total(r).brotli),
        "ratio_to_reference_brotli": sizes.reference.as_ref().map(|r| ours.brotli as f64 / total(r).brotli.max(1) as f64),
        "navigation_to_token_card_ms": loads.as_ref().ok(),
    })
}
