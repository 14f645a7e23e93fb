//! `herald app`, `herald event-type` and `herald portal-link`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, Conn};
use super::output::{self, field};
use super::{CliError, json_arg};

#[derive(Args, Debug)]
pub struct AppArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: AppCmd,
}

#[derive(Subcommand, Debug)]
pub enum AppCmd {
    /// Create an application.
    Create {
        /// Its name, shown to people.
        name: String,
        /// A uid of your choosing, usable wherever the id is.
        #[arg(long)]
        uid: Option<String>,
        /// Metadata, a JSON object of strings.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// List applications.
    List(ListOpts),
    /// Show one application (by id or uid).
    Get {
        /// The application (id or uid).
        app: String,
    },
    /// Delete an application with its endpoints and messages.
    Delete {
        /// The application (id or uid).
        app: String,
    },
}

/// How much of a list to fetch.
#[derive(Args, Debug, Clone, Copy)]
pub struct ListOpts {
    /// At most this many items.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Every item, however many (overrides --limit).
    #[arg(long)]
    pub all: bool,
}

impl ListOpts {
    pub fn limit(&self) -> Option<usize> {
        (!self.all).then_some(self.limit)
    }
}

/// Prints a list as JSON or as a table, and says on stderr when there is more.
pub fn print_list(
    c: &Client,
    items: &[Value],
    more: bool,
    header: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) {
    if c.json {
        output::json(&Value::Array(items.to_vec()));
    } else if items.is_empty() {
        say!("(none)");
    } else {
        output::table(header, &items.iter().map(row).collect::<Vec<_>>());
    }
    if more {
        eprintln!("(more than {}: use --limit N or --all)", items.len());
    }
}

pub async fn run(a: AppArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    match a.cmd {
        AppCmd::Create {
            name,
            uid,
            metadata,
        } => {
            let mut body = json!({"name": name});
            if let Some(uid) = uid {
                body["uid"] = uid.into();
            }
            if let Some(m) = metadata {
                body["metadata"] = serde_json::from_str(&json_arg("--metadata", &m)?)
                    .map_err(|e| CliError::Usage(format!("--metadata: {e}")))?;
            }
            show_app(&c, &c.post(&["app"], &body).await?);
        }
        AppCmd::List(l) => {
            let (items, more) = c.list(&["app"], &[], l.limit()).await?;
            print_list(&c, &items, more, &["ID", "UID", "NAME", "CREATED"], |a| {
                vec![
                    field(a, "id"),
                    field(a, "uid"),
                    field(a, "name"),
                    field(a, "createdAt"),
                ]
            });
        }
        AppCmd::Get { app } => show_app(&c, &c.get(&["app", &app], &[]).await?),
        AppCmd::Delete { app } => {
            c.delete(&["app", &app]).await?;
            if c.json {
                output::json(&json!({"deleted": app}));
            } else {
                say!("deleted application {app}");
            }
        }
    }
    Ok(())
}

fn show_app(c: &Client, a: &Value) {
    if c.json {
        return output::json(a);
    }
    output::pairs(&[
        ("id", field(a, "id")),
        ("uid", field(a, "uid")),
        ("name", field(a, "name")),
        ("metadata", a["metadata"].to_string()),
        ("created", field(a, "createdAt")),
        ("updated", field(a, "updatedAt")),
    ]);
}

#[derive(Args, Debug)]
pub struct EventTypeArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: EventTypeCmd,
}

#[derive(Subcommand, Debug)]
pub enum EventTypeCmd {
    /// Create an event type, such as `invoice.paid`.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// JSON Schemas by version, e.g. '{"1": {"type": "object"}}' (`-` reads stdin).
        #[arg(long)]
        schemas: Option<String>,
    },
    /// List event types.
    List(ListOpts),
}

pub async fn run_event_type(a: EventTypeArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    match a.cmd {
        EventTypeCmd::Create {
            name,
            description,
            schemas,
        } => {
            let mut body = json!({"name": name, "description": description});
            if let Some(s) = schemas {
                body["schemas"] = serde_json::from_str(&json_arg("--schemas", &s)?)
                    .map_err(|e| CliError::Usage(format!("--schemas: {e}")))?;
            }
            let et = c.post(&["event-type"], &body).await?;
            if c.json {
                output::json(&et);
            } else {
                output::pairs(&[
                    ("name", field(&et, "name")),
                    ("description", field(&et, "description")),
                    ("created", field(&et, "createdAt")),
                ]);
            }
        }
        EventTypeCmd::List(l) => {
            let (items, more) = c.list(&["event-type"], &[], l.limit()).await?;
            print_list(
                &c,
                &items,
                more,
                &["NAME", "DESCRIPTION", "ARCHIVED"],
                |e| {
                    vec![
                        field(e, "name"),
                        field(e, "description"),
                        field(e, "archived"),
                    ]
                },
            );
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct PortalLinkArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The application (id or uid).
    pub app: String,
}

pub async fn portal_link(a: PortalLinkArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    let access = c
        .post(&["auth", "app-portal-access", &a.app], &json!({}))
        .await?;
    if c.json {
        output::json(&access);
    } else {
        say!("{}", field(&access, "url"));
    }
    Ok(())
}
