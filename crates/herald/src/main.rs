//! The `herald` binary: `serve` (the default), `migrate`, `listen`, and the client commands.

mod cli;

use clap::{CommandFactory, Parser, Subcommand};
use herald::{Application, Config};

/// glibc malloc was 15-18% of the CPU profile under load (small, short-lived allocations across
/// threads); mimalloc serves them from thread-local pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Webhook delivery service",
    after_help = "Client commands read HERALD_URL (default http://127.0.0.1:8071) and HERALD_TOKEN.\n\
                  Exit codes: 0 done, 1 Herald answered an error or work failed, 2 usage, \
                  3 Herald unreachable."
)]
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
    /// Seal every endpoint secret, header set and stored response body with a new
    /// --new-secret-key (opening them with --secret-key, or as plain text without one), then
    /// exit. Run it with no node serving, then restart the nodes with the new key.
    RotateSecretKey {
        #[command(flatten)]
        cfg: Config,
        /// The new key: 32 bytes, base64.
        #[arg(long, env = "HERALD_NEW_SECRET_KEY", hide_env_values = true)]
        new_secret_key: herald::secret::Secret,
    },
    /// Operator tokens, beside the configured or first-start one: several can be valid at once,
    /// so one can be replaced without downtime. Works on the database directly.
    Token(TokenArgs),
    /// Receive webhooks locally: verify, print and answer each request (for developers).
    Listen(cli::listen::ListenArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
    /// Print a shell completion script: `herald completions bash > /etc/bash_completion.d/herald`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args)]
struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
    #[command(flatten)]
    cfg: Config,
}

#[derive(Subcommand)]
enum TokenAction {
    /// Make a new operator token and print it (once: only its hash is kept).
    Create {
        /// What the token is for, shown by `list`.
        #[arg(long, default_value = "operator")]
        name: String,
    },
    /// List the tokens made with `create` (never the tokens themselves).
    List,
    /// Revoke a token by its id (valid no more within 10 seconds on every node).
    Revoke { id: String },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(Config::defaults()));
    let mut rt = match &command {
        Command::Serve(c)
        | Command::Migrate(c)
        | Command::RotateSecretKey { cfg: c, .. }
        | Command::Token(TokenArgs { cfg: c, .. }) => {
            // The admin commands print their result on stdout: their logs go to stderr.
            init_logs(!matches!(command, Command::Serve(_)), c.log_format);
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = c.worker_threads.filter(|n| *n > 0) {
                rt.worker_threads(n);
            }
            rt
        }
        Command::Listen(_) => {
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            rt.worker_threads(2);
            rt
        }
        Command::Client(_) => tokio::runtime::Builder::new_current_thread(),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "herald", &mut script);
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            return std::process::ExitCode::SUCCESS;
        }
    };
    match rt.enable_all().build() {
        Ok(rt) => rt.block_on(run(command)),
        Err(e) => {
            eprintln!("herald: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logs(to_stderr: bool, format: herald::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    // JSON: one object a line, with the fields of the current span (request_id, the attempt's
    // ids) flattened beside the event's own, so a collector can filter on them.
    match (format, to_stderr) {
        (herald::config::LogFormat::Json, true) => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .init(),
        (herald::config::LogFormat::Json, false) => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        (herald::config::LogFormat::Text, true) => logs.with_writer(std::io::stderr).init(),
        (herald::config::LogFormat::Text, false) => logs.init(),
    }
}

async fn run(command: Command) -> std::process::ExitCode {
    let result = match command {
        Command::Serve(cfg) => serve(cfg).await,
        Command::Migrate(cfg) => herald::app::open_store(&cfg)
            .await
            .map(|_| println!("database is up to date"))
            .map_err(|e| e.to_string()),
        Command::RotateSecretKey {
            cfg,
            new_secret_key,
        } => rotate_secret_key(cfg, &new_secret_key).await,
        Command::Token(args) => token(args).await,
        Command::Listen(args) => return cli::exit(cli::listen::run(args, shutdown_signal()).await),
        Command::Client(cmd) => return cli::run(cmd).await,
        Command::Completions { .. } => Ok(()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn rotate_secret_key(cfg: Config, new: &str) -> Result<(), String> {
    let new =
        herald::store::Cipher::from_base64(new).map_err(|e| format!("--new-secret-key: {e}"))?;
    let store = herald::app::open_store(&cfg)
        .await
        .map_err(|e| e.to_string())?;
    let done = store.reseal(&new).await.map_err(|e| e.to_string())?;
    println!(
        "sealed with the new key: {} endpoints, {} attempts' response bodies; start the nodes \
         with it now",
        done.endpoints, done.attempts
    );
    Ok(())
}

async fn token(args: TokenArgs) -> Result<(), String> {
    let store = herald::app::open_store(&args.cfg)
        .await
        .map_err(|e| e.to_string())?;
    match args.action {
        TokenAction::Create { name } => {
            let token = herald::api::auth_new_operator_token();
            let id = store
                .add_operator_token(&name, &hex::encode(herald::api::hash_token(&token)))
                .await
                .map_err(|e| e.to_string())?;
            println!("{token}");
            eprintln!("token {id} ({name}): shown once, keep it safe");
        }
        TokenAction::List => {
            let tokens = store.operator_tokens().await.map_err(|e| e.to_string())?;
            println!("{:<32} {:<20} {:<26} REVOKED", "ID", "NAME", "CREATED");
            for (id, name, created, revoked) in tokens {
                let revoked = revoked.map(herald::clock::rfc3339).unwrap_or_default();
                println!(
                    "{id:<32} {name:<20} {:<26} {revoked}",
                    herald::clock::rfc3339(created)
                );
            }
        }
        TokenAction::Revoke { id } => {
            if !store
                .revoke_operator_token(&id)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no token {id} that is not revoked already"));
            }
            println!("revoked {id}");
        }
    }
    Ok(())
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
