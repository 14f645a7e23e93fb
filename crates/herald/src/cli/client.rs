//! The HTTP side of the client commands: one request to a running Herald, its errors mapped to
//! exit codes. Nothing here touches a store: the commands work against any Herald node.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

use super::CliError;

/// Where Herald is and how to authenticate; `--json` for scripts.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Herald's base URL.
    #[arg(
        long,
        env = "HERALD_URL",
        default_value = "http://127.0.0.1:8071",
        global = true
    )]
    pub url: String,

    /// An operator token (or an application's token, which sees only its application).
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,

    /// Print JSON (one document, or an array for lists) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A client of one Herald node.
#[derive(Clone)]
pub struct Client {
    base: url::Url,
    token: String,
    http: reqwest::Client,
    pub json: bool,
}

impl Client {
    pub fn new(conn: &Conn) -> Result<Self, CliError> {
        let token = conn
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CliError::Usage("no token: set HERALD_TOKEN or pass --token".into()))?;
        let trimmed = conn.url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
        let base = url::Url::parse(trimmed)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--url / HERALD_URL {:?} is not an http(s) URL such as http://127.0.0.1:8071",
                    conn.url
                ))
            })?;
        Ok(Client {
            base,
            token,
            http: http_client(Duration::from_secs(60)),
            json: conn.json,
        })
    }

    /// The URL of API path `segments` (each percent-encoded) with `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> url::Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        if !query.is_empty() {
            u.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        u
    }

    /// Sends one request; a JSON body is sent as given. Returns the answer's JSON (`Null` when
    /// it has no body).
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<String>,
    ) -> Result<Value, CliError> {
        let mut req = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.map_err(|e| unreachable(&self.base, &e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| unreachable(&self.base, &e))?;
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) if !status.is_success() => Value::String(text),
                Err(_) => {
                    return Err(CliError::Unreachable(format!(
                        "{url} answered {status} with something that is not JSON: is Herald there?"
                    )));
                }
            }
        };
        if status.is_success() {
            Ok(json)
        } else {
            Err(CliError::Api {
                status: status.as_u16(),
                message: describe(&json),
            })
        }
    }

    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
        self.call(reqwest::Method::GET, self.url(segments, query), None)
            .await
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Value, CliError> {
        self.call(
            reqwest::Method::POST,
            self.url(segments, &[]),
            Some(body.to_string()),
        )
        .await
    }

    pub async fn patch(&self, segments: &[&str], body: &Value) -> Result<Value, CliError> {
        self.call(
            reqwest::Method::PATCH,
            self.url(segments, &[]),
            Some(body.to_string()),
        )
        .await
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<Value, CliError> {
        self.call(reqwest::Method::DELETE, self.url(segments, &[]), None)
            .await
    }

    /// The items of a list, following the iterator until `limit` items (all with `None`).
    /// Returns them and whether more were left.
    pub async fn list(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        limit: Option<usize>,
    ) -> Result<(Vec<Value>, bool), CliError> {
        let mut out = Vec::new();
        let mut iterator: Option<String> = None;
        loop {
            let want = limit.map_or(250, |l| l.saturating_sub(out.len()).clamp(1, 250));
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("limit", want.to_string()));
            if let Some(it) = &iterator {
                q.push(("iterator", it.clone()));
            }
            let page = self.get(segments, &q).await?;
            if let Some(data) = page["data"].as_array() {
                out.extend(data.iter().cloned());
            }
            let done = page["done"].as_bool().unwrap_or(true);
            iterator = page["iterator"].as_str().map(str::to_string);
            let full = limit.is_some_and(|l| out.len() >= l);
            if done || iterator.is_none() {
                return Ok((out, false));
            }
            if full {
                return Ok((out, true));
            }
        }
    }
}

/// An HTTP client for the commands (and `listen --forward-to`): rustls with ring, as the
/// server uses; no redirects followed silently.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

fn unreachable(base: &url::Url, e: &reqwest::Error) -> CliError {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    CliError::Unreachable(format!("cannot reach Herald at {base}: {msg}"))
}

/// The server's explanation of an error: its `detail`, or each validation error as
/// `body.url: message`.
fn describe(v: &Value) -> String {
    match &v["detail"] {
        Value::String(s) => match v["code"].as_str() {
            Some(code) => format!("{s} ({code})"),
            None => s.clone(),
        },
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let loc: Vec<String> = i["loc"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "{}: {}",
                    loc.join("."),
                    i["msg"].as_str().unwrap_or("invalid")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => match v {
            Value::String(s) if !s.is_empty() => s.chars().take(300).collect(),
            Value::Null => "no explanation given".into(),
            other => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_errors() {
        let v = serde_json::json!({"code": "not_found", "detail": "Application not found"});
        assert_eq!(describe(&v), "Application not found (not_found)");
        let v = serde_json::json!({"detail": [{"loc": ["body", "url"], "msg": "bad URL", "type": "value_error"}]});
        assert_eq!(describe(&v), "body.url: bad URL");
    }

    #[test]
    fn builds_urls_with_encoded_segments() {
        let c = Client::new(&Conn {
            url: "http://127.0.0.1:8071/api/v1/".into(),
            token: Some("t".into()),
            json: false,
        })
        .unwrap();
        let u = c.url(&["app", "a/b?c"], &[("limit", "5".into())]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8071/api/v1/app/a%2Fb%3Fc?limit=5"
        );
    }
}
