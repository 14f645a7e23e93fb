//! `herald endpoint`: create, list, get, update, disable, enable, delete, secret.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::CliError;
use super::app::{ListOpts, print_list};
use super::client::{Client, Conn};
use super::output::{self, field};

#[derive(Args, Debug)]
pub struct EndpointArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: EndpointCmd,
}

#[derive(Subcommand, Debug)]
pub enum EndpointCmd {
    /// Create an endpoint; prints it with its signing secret.
    Create {
        /// The application (id or uid).
        app: String,
        /// Where to deliver, http(s).
        #[arg(value_name = "URL")]
        endpoint_url: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// List the endpoints of an application.
    List {
        /// The application (id or uid).
        app: String,
        #[command(flatten)]
        list: ListOpts,
    },
    /// Show one endpoint (by id or uid).
    Get {
        /// The application (id or uid).
        app: String,
        /// The endpoint (id or uid).
        endpoint: String,
    },
    /// Change the fields given, leaving the others as they are.
    Update {
        /// The application (id or uid).
        app: String,
        /// The endpoint (id or uid).
        endpoint: String,
        /// A new URL to deliver to (`--url` is Herald's own).
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// Stop delivering to an endpoint (messages meanwhile are kept, for `recover --missing`).
    Disable {
        /// The application (id or uid).
        app: String,
        /// The endpoint (id or uid).
        endpoint: String,
    },
    /// Deliver to an endpoint again.
    Enable {
        /// The application (id or uid).
        app: String,
        /// The endpoint (id or uid).
        endpoint: String,
    },
    /// Delete an endpoint.
    Delete {
        /// The application (id or uid).
        app: String,
        /// The endpoint (id or uid).
        endpoint: String,
    },
    /// Print an endpoint's signing secret (a whpk_ public key for ed25519 endpoints).
    Secret {
        /// The application (id or uid).
        app: String,
        /// The endpoint (id or uid).
        endpoint: String,
        /// Replace the secret (the old one keeps signing for a grace period).
        #[arg(long)]
        rotate: bool,
        /// With --rotate: the new secret, instead of a generated one.
        #[arg(long, requires = "rotate")]
        key: Option<String>,
    },
}

/// The endpoint fields `create` and `update` take.
#[derive(Args, Debug, Default)]
pub struct Fields {
    #[arg(long)]
    uid: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Deliver only these event types (repeat the flag, or separate with commas).
    #[arg(long = "event-type", value_delimiter = ',')]
    event_types: Vec<String>,
    /// Deliver only messages of these channels.
    #[arg(long = "channel", value_delimiter = ',')]
    channels: Vec<String>,
    /// Wire format: standard, envelope, payload-string or hmac-header.
    #[arg(long)]
    format: Option<herald_verify::Format>,
    /// The signing secret (create only; default: a generated whsec_ secret).
    #[arg(long)]
    secret: Option<String>,
    /// hmac-header: the header carrying the signature (default X-Webhook-Signature).
    #[arg(long)]
    signature_header: Option<String>,
    /// hmac-header: text before the hex digest, such as sha256=.
    #[arg(long)]
    signature_prefix: Option<String>,
    /// Seconds before each retry, e.g. 60,60,60.
    #[arg(long, value_delimiter = ',')]
    retry_schedule: Vec<u64>,
    /// Timeout of one attempt, milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Messages per second at most.
    #[arg(long)]
    throttle_rate: Option<u64>,
    /// A custom header sent with every request, NAME=VALUE (create only; repeat the flag).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
}

impl Fields {
    /// The JSON fields set, or a usage error.
    fn to_json(&self, creating: bool) -> Result<Map<String, Value>, CliError> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("uid", self.uid.clone().map(Value::from));
        put("description", self.description.clone().map(Value::from));
        put(
            "eventTypes",
            (!self.event_types.is_empty()).then(|| json!(self.event_types)),
        );
        put(
            "channels",
            (!self.channels.is_empty()).then(|| json!(self.channels)),
        );
        put("format", self.format.map(|f| f.as_str().into()));
        put(
            "signatureHeader",
            self.signature_header.clone().map(Value::from),
        );
        put(
            "signaturePrefix",
            self.signature_prefix.clone().map(Value::from),
        );
        put(
            "retrySchedule",
            (!self.retry_schedule.is_empty()).then(|| json!(self.retry_schedule)),
        );
        put("timeoutMs", self.timeout_ms.map(Value::from));
        put("throttleRate", self.throttle_rate.map(Value::from));
        if !creating && (self.secret.is_some() || !self.headers.is_empty()) {
            return Err(CliError::Usage(
                "update cannot change the secret or headers: use `herald endpoint secret --rotate`"
                    .into(),
            ));
        }
        if let Some(s) = &self.secret {
            m.insert("secret".into(), s.clone().into());
        }
        if !self.headers.is_empty() {
            let mut h = Map::new();
            for pair in &self.headers {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    CliError::Usage(format!("--header {pair:?} is not NAME=VALUE"))
                })?;
                h.insert(k.trim().to_string(), v.trim().into());
            }
            m.insert("headers".into(), Value::Object(h));
        }
        Ok(m)
    }
}

pub async fn run(a: EndpointArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    match a.cmd {
        EndpointCmd::Create {
            app,
            endpoint_url,
            fields,
        } => {
            let mut body = fields.to_json(true)?;
            body.insert("url".into(), endpoint_url.into());
            let ep = c.post(&["app", &app, "endpoint"], &body.into()).await?;
            let id = field(&ep, "id");
            let secret = c
                .get(&["app", &app, "endpoint", &id, "secret"], &[])
                .await?;
            show(&c, &ep, Some(&field(&secret, "key")));
        }
        EndpointCmd::List { app, list } => {
            let (items, more) = c
                .list(&["app", &app, "endpoint"], &[], list.limit())
                .await?;
            print_list(
                &c,
                &items,
                more,
                &["ID", "UID", "URL", "FORMAT", "STATE", "EVENT TYPES"],
                |e| {
                    vec![
                        field(e, "id"),
                        field(e, "uid"),
                        field(e, "url"),
                        field(e, "format"),
                        state(e),
                        field(e, "eventTypes"),
                    ]
                },
            );
        }
        EndpointCmd::Get { app, endpoint } => {
            let ep = c.get(&["app", &app, "endpoint", &endpoint], &[]).await?;
            show(&c, &ep, None);
        }
        EndpointCmd::Update {
            app,
            endpoint,
            endpoint_url,
            fields,
        } => {
            let mut body = fields.to_json(false)?;
            if let Some(u) = endpoint_url {
                body.insert("url".into(), u.into());
            }
            if body.is_empty() {
                return Err(CliError::Usage(
                    "nothing to update: give --endpoint-url, --description, --event-type, --format, ..."
                        .into(),
                ));
            }
            let ep = c
                .patch(&["app", &app, "endpoint", &endpoint], &body.into())
                .await?;
            show(&c, &ep, None);
        }
        EndpointCmd::Disable { app, endpoint } => set_disabled(&c, &app, &endpoint, true).await?,
        EndpointCmd::Enable { app, endpoint } => set_disabled(&c, &app, &endpoint, false).await?,
        EndpointCmd::Delete { app, endpoint } => {
            c.delete(&["app", &app, "endpoint", &endpoint]).await?;
            if c.json {
                output::json(&json!({"deleted": endpoint}));
            } else {
                say!("deleted endpoint {endpoint}");
            }
        }
        EndpointCmd::Secret {
            app,
            endpoint,
            rotate,
            key,
        } => {
            let path = ["app", app.as_str(), "endpoint", endpoint.as_str(), "secret"];
            let secret = if rotate {
                let body = key.map_or_else(|| json!({}), |k| json!({"key": k}));
                let rotate_path = [&path[..], &["rotate"]].concat();
                c.post(&rotate_path, &body).await?
            } else {
                c.get(&path, &[]).await?
            };
            if c.json {
                output::json(&secret);
            } else {
                say!("{}", field(&secret, "key"));
            }
        }
    }
    Ok(())
}

async fn set_disabled(c: &Client, app: &str, ep: &str, disabled: bool) -> Result<(), CliError> {
    let e = c
        .patch(
            &["app", app, "endpoint", ep],
            &json!({"disabled": disabled}),
        )
        .await?;
    if c.json {
        output::json(&e);
    } else {
        say!(
            "endpoint {} {}",
            field(&e, "id"),
            if disabled { "disabled" } else { "enabled" }
        );
    }
    Ok(())
}

fn state(e: &Value) -> String {
    if e["disabled"].as_bool() == Some(true) {
        match e["disabledReason"].as_str() {
            Some(r) => format!("disabled ({r})"),
            None => "disabled".into(),
        }
    } else {
        "enabled".into()
    }
}

fn show(c: &Client, ep: &Value, secret: Option<&str>) {
    if c.json {
        return output::json(ep);
    }
    let mut rows = vec![
        ("id", field(ep, "id")),
        ("uid", field(ep, "uid")),
        ("url", field(ep, "url")),
        ("state", state(ep)),
        ("format", field(ep, "format")),
        ("event types", field(ep, "eventTypes")),
        ("channels", field(ep, "channels")),
        ("description", field(ep, "description")),
    ];
    for (label, key) in [
        ("signature header", "signatureHeader"),
        ("signature prefix", "signaturePrefix"),
        ("retry schedule", "retrySchedule"),
        ("timeout ms", "timeoutMs"),
    ] {
        if !ep[key].is_null() {
            rows.push((label, field(ep, key)));
        }
    }
    if let Some(s) = secret {
        rows.push(("secret", s.to_string()));
    }
    rows.push(("created", field(ep, "createdAt")));
    output::pairs(&rows);
}
