//! `gaffer-model-sim`: runs the scripted model server in the foreground.

use clap::Parser;
use gaffer_model_sim::{ModelServer, Script};
use std::io::Write;
use std::path::PathBuf;

/// A scripted model server on loopback for the real Claude Code, Codex and Gemini CLIs.
#[derive(Parser, Debug)]
#[command(name = "gaffer-model-sim", version)]
struct Args {
    /// Address to listen on (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// A script (JSON) to use instead of the built-in one.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Append every request, with the reply chosen, to this JSONL file.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Write the server's URL to this file once it listens.
    #[arg(long)]
    url_file: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let script = match &args.script {
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str::<Script>(&s).map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("gaffer-model-sim: {}: {e}", p.display());
                std::process::exit(3);
            }
        },
        None => Script::builtin(),
    };
    let server = match ModelServer::start(&args.addr, script, args.log.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gaffer-model-sim: {e}");
            std::process::exit(4);
        }
    };
    let url = server.url();
    if let Some(f) = &args.url_file {
        if let Err(e) = std::fs::write(f, &url) {
            eprintln!("gaffer-model-sim: {}: {e}", f.display());
            std::process::exit(4);
        }
    }
    println!("{url}");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
