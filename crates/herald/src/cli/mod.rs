//! `herald listen` and the client commands (`herald app ...`, `herald send ...`): everything
//! the binary does besides serving. The client commands only talk HTTP to a running Herald.
//!
//! Exit codes, for scripts:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | Herald answered with an error (4xx/5xx: its `detail` is printed), or part of the work failed |
//! | 2 | usage: a bad argument, bad JSON, no token (clap's own usage errors are 2 too) |
//! | 3 | Herald could not be reached (connection refused, DNS, TLS, timeout), or what answered is not Herald |

/// `println!` that ignores a closed stdout (`herald app list | head -1`) instead of panicking.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

pub mod app;
pub mod client;
pub mod endpoint;
pub mod listen;
mod listen_print;
pub mod message;
pub mod output;
pub mod replay;

use std::process::ExitCode;

use clap::Subcommand;

/// A failed command, and the exit code it means.
#[derive(Debug)]
pub enum CliError {
    /// Bad input from the user: exit 2.
    Usage(String),
    /// Herald answered with an error status: exit 1.
    Api { status: u16, message: String },
    /// Something else failed (some of many sends, a port in use): exit 1.
    Failed(String),
    /// Herald could not be reached, or did not answer like Herald: exit 3.
    Unreachable(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Api { .. } | CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) | CliError::Unreachable(m) => f.write_str(m),
            CliError::Api { status, message } => write!(f, "Herald answered {status}: {message}"),
        }
    }
}

/// The client commands, each talking to a running Herald over HTTP.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Applications: create, list, get, delete.
    App(app::AppArgs),
    /// Endpoints of an application: create, list, get, update, disable, enable, delete, secret.
    Endpoint(endpoint::EndpointArgs),
    /// Event types: create, list.
    #[command(name = "event-type")]
    EventType(app::EventTypeArgs),
    /// Publish a message (`-` reads the JSON payload from stdin); `--count N` publishes N.
    Send(message::SendArgs),
    /// List an application's messages, newest first.
    Messages(message::MessagesArgs),
    /// List the delivery attempts of a message, newest first.
    Attempts(message::AttemptsArgs),
    /// Resend messages: given ones, or every failed message of an endpoint.
    Resend(replay::ResendArgs),
    /// Requeue an endpoint's failed deliveries since a time (`--missing`: those it never got).
    Recover(replay::RecoverArgs),
    /// Print a link to the customer portal of an application (and its token with --json).
    #[command(name = "portal-link")]
    PortalLink(app::PortalLinkArgs),
}

/// Runs a client command; prints its error, if any, and returns the exit code.
pub async fn run(cmd: ClientCommand) -> ExitCode {
    let result = match cmd {
        ClientCommand::App(a) => app::run(a).await,
        ClientCommand::Endpoint(a) => endpoint::run(a).await,
        ClientCommand::EventType(a) => app::run_event_type(a).await,
        ClientCommand::Send(a) => message::send(a).await,
        ClientCommand::Messages(a) => message::messages(a).await,
        ClientCommand::Attempts(a) => message::attempts(a).await,
        ClientCommand::Resend(a) => replay::resend(a).await,
        ClientCommand::Recover(a) => replay::recover(a).await,
        ClientCommand::PortalLink(a) => app::portal_link(a).await,
    };
    exit(result)
}

/// The exit code of a result, its error printed on stderr.
pub fn exit(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Parses JSON given on the command line, or read from stdin for `-`, keeping its bytes.
pub fn json_arg(what: &str, arg: &str) -> Result<String, CliError> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CliError::Usage(format!("cannot read {what} from stdin: {e}")))?;
        s
    } else {
        arg.to_string()
    };
    let text = text.trim().to_string();
    serde_json::from_str::<&serde_json::value::RawValue>(&text)
        .map_err(|e| CliError::Usage(format!("{what} is not JSON: {e}")))?;
    Ok(text)
}

/// A time given as RFC 3339 (`2026-11-01T00:00:00Z`) or as an age (`2h`, `30m`, `7d`: that long
/// ago), as RFC 3339 in UTC.
pub fn time_arg(what: &str, s: &str) -> Result<String, CliError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    let age = herald::config::parse_duration(s).map_err(|_| {
        CliError::Usage(format!(
            "{what} {s:?} is neither a time (2026-11-01T00:00:00Z) nor an age (30m, 2h, 7d)"
        ))
    })?;
    let age = chrono::Duration::from_std(age)
        .map_err(|_| CliError::Usage(format!("{what} {s:?} is too long ago")))?;
    let t = chrono::Utc::now()
        .checked_sub_signed(age)
        .ok_or_else(|| CliError::Usage(format!("{what} {s:?} is too long ago")))?;
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_ages() {
        assert_eq!(
            time_arg("--since", "2026-11-01T01:00:00+01:00").unwrap(),
            "2026-11-01T00:00:00.000Z"
        );
        let t = time_arg("--since", "2h").unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(&t).unwrap();
        let age = chrono::Utc::now().signed_duration_since(parsed);
        assert!((7190..7210).contains(&age.num_seconds()), "{age}");
        assert!(matches!(
            time_arg("--since", "soon"),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn json_arguments_keep_their_bytes() {
        assert_eq!(
            json_arg("payload", r#" {"a":  1} "#).unwrap(),
            r#"{"a":  1}"#
        );
        assert!(matches!(
            json_arg("payload", "{oops"),
            Err(CliError::Usage(_))
        ));
    }
}
