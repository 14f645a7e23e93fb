//! The `herald` binary.

use clap::{Parser, Subcommand};
use herald::{Application, Config};

/// glibc malloc was 15-18% of the CPU profile under load (small, short-lived allocations across
/// threads); mimalloc serves them from thread-local pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "herald", version, about = "Webhook delivery service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and deliver webhooks (the default).
    Serve(Config),
    /// Create or upgrade the database schema, then exit.
    Migrate(Config),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(Config::defaults()));
    let threads = match &command {
        Command::Serve(c) | Command::Migrate(c) => c.worker_threads,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads.filter(|n| *n > 0) {
        rt.worker_threads(n);
    }
    match rt.enable_all().build() {
        Ok(rt) => rt.block_on(run(command)),
        Err(e) => {
            eprintln!("herald: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> std::process::ExitCode {
    let result = match command {
        Command::Serve(cfg) => serve(cfg).await,
        Command::Migrate(cfg) => herald::app::open_store(&cfg)
            .await
            .map(|_| println!("database is up to date"))
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: Config) -> Result<(), String> {
    let app = Application::build(cfg).await.map_err(|e| e.to_string())?;
    tracing::info!(addr = %app.local_addr(), "Herald listening");
    app.run(shutdown_signal()).await.map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
