//! The SQLite store: one writer connection (SQLite has one writer anyway; a single connection
//! avoids busy errors) and a pool of readers, in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row};

use super::{
    AppFields, Claimed, EndpointFields, EventTypeFields, ListFilter, NewMessage, NextStep, Page,
    PageOut, StoreError, StoreResult,
};
use crate::ids;
use crate::model::{
    Application, Attempt, Delivery, DeliveryStatus, Endpoint, EndpointStats, EventType, Message,
};

/// A duplicate `eventId` is refused for this long, as Svix does.
const EVENT_ID_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[derive(Clone)]
pub struct Store {
    write: SqlitePool,
    read: SqlitePool,
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: serde::de::DeserializeOwned>(s: Option<String>) -> Option<T> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn app_from(r: &SqliteRow) -> StoreResult<Application> {
    Ok(Application {
        id: r.try_get("id")?,
        uid: r.try_get("uid")?,
        name: r.try_get("name")?,
        metadata: from_json(r.try_get("metadata")?).unwrap_or(Value::Object(Default::default())),
        throttle_rate: r.try_get("throttle_rate")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn endpoint_from(r: &SqliteRow) -> StoreResult<Endpoint> {
    Ok(Endpoint {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        uid: r.try_get("uid")?,
        url: r.try_get("url")?,
        description: r.try_get("description")?,
        secret: r.try_get("secret")?,
        old_secrets: from_json(r.try_get("old_secrets")?).unwrap_or_default(),
        event_types: from_json(r.try_get("event_types")?),
        channels: from_json(r.try_get("channels")?),
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        disabled_reason: r.try_get("disabled_reason")?,
        headers: from_json(r.try_get("headers")?).unwrap_or_default(),
        metadata: from_json(r.try_get("metadata")?).unwrap_or(Value::Object(Default::default())),
        throttle_rate: r.try_get("throttle_rate")?,
        options: from_json(r.try_get("options")?).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn event_type_from(r: &SqliteRow) -> StoreResult<EventType> {
    Ok(EventType {
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        archived: r.try_get::<i64, _>("archived")? != 0,
        deprecated: r.try_get::<i64, _>("deprecated")? != 0,
        feature_flag: r.try_get("feature_flag")?,
        schemas: from_json(r.try_get("schemas")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn message_from(r: &SqliteRow) -> StoreResult<Message> {
    Ok(Message {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        payload: r.try_get("payload")?,
        channels: from_json(r.try_get("channels")?),
        tags: from_json(r.try_get("tags")?),
        created_at: r.try_get("created_at")?,
    })
}

fn delivery_from(r: &SqliteRow) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: r.try_get("d_id")?,
        app_id: r.try_get("d_app_id")?,
        msg_id: r.try_get("d_msg_id")?,
        endpoint_id: r.try_get("d_endpoint_id")?,
        status: DeliveryStatus::from_i64(r.try_get("d_status")?),
        tries: r.try_get("d_tries")?,
        next_attempt_at: r.try_get("d_next_attempt_at")?,
        next_trigger: r.try_get("d_next_trigger")?,
        created_at: r.try_get("d_created_at")?,
        updated_at: r.try_get("d_updated_at")?,
    })
}

const DELIVERY_COLS: &str = "d.id AS d_id, d.app_id AS d_app_id, d.msg_id AS d_msg_id, \
    d.endpoint_id AS d_endpoint_id, d.status AS d_status, d.tries AS d_tries, \
    d.next_attempt_at AS d_next_attempt_at, d.next_trigger AS d_next_trigger, \
    d.created_at AS d_created_at, d.updated_at AS d_updated_at";

fn attempt_from(r: &SqliteRow) -> StoreResult<Attempt> {
    Ok(Attempt {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        msg_id: r.try_get("msg_id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        url: r.try_get("url")?,
        status: r.try_get("status")?,
        status_code: r.try_get("status_code")?,
        response: r.try_get("response")?,
        duration_ms: r.try_get("duration_ms")?,
        error: r.try_get("error")?,
        trigger_type: r.try_get("trigger_type")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Placeholders `?, ?, ...` for an IN list.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The rows of `table` (a constant name) with these ids.
async fn rows_by_ids(
    table: &str,
    ids: &[String],
    pool: &SqlitePool,
) -> StoreResult<Vec<SqliteRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(&format!(
        "SELECT * FROM {table} WHERE id IN ({})",
        marks(ids.len())
    ));
    for i in ids {
        sql.text(i.clone());
    }
    Ok(sql.fetch_all(pool).await?)
}

/// A dynamically built query: SQL text plus its bound values, in order.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

enum Arg {
    Text(String),
    Int(i64),
}

impl Sql {
    fn new(s: &str) -> Self {
        Sql {
            text: s.to_string(),
            args: Vec::new(),
        }
    }
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    fn text(&mut self, v: impl Into<String>) -> &mut Self {
        self.args.push(Arg::Text(v.into()));
        self
    }
    fn int(&mut self, v: i64) -> &mut Self {
        self.args.push(Arg::Int(v));
        self
    }
    async fn fetch_all(self, pool: &SqlitePool) -> Result<Vec<SqliteRow>, sqlx::Error> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for a in self.args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
            };
        }
        q.fetch_all(pool).await
    }
    /// Appends the filters shared by message and attempt lists; `m` is the messages alias,
    /// `time` the column the before/after bounds apply to.
    fn filters(&mut self, f: &ListFilter, time: &str) -> &mut Self {
        if let Some(c) = &f.channel {
            self.push(" AND EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = ?)")
                .text(c.clone());
        }
        if !f.event_types.is_empty() {
            self.push(&format!(
                " AND m.event_type IN ({})",
                marks(f.event_types.len())
            ));
            for t in &f.event_types {
                self.text(t.clone());
            }
        }
        if let Some(b) = f.before {
            self.push(&format!(" AND {time} < ?")).int(b);
        }
        if let Some(a) = f.after {
            self.push(&format!(" AND {time} > ?")).int(a);
        }
        self
    }
    /// Appends the cursor condition, order and limit of `page` on `key`.
    fn page(&mut self, page: &Page, key: &str) -> bool {
        let (cond, dir, cursor, backwards) = page.plan(key);
        self.push(&format!(" AND {cond}"));
        if let Some(c) = cursor {
            self.text(c);
        }
        self.push(&format!(" ORDER BY {key} {dir} LIMIT ?"))
            .int(page.limit + 1);
        backwards
    }
}

impl Store {
    /// Opens (creating if missing) the database at `url` and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before the API answers 202, even across a power cut.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(opts.clone())
            .await?;
        super::migrate::run_sqlite(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(opts.read_only(true))
            .await?;
        Ok(Store { write, read })
    }

    // ---- settings -------------------------------------------------------------------------

    pub async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.write)
                .await?,
        )
    }

    /// Sets `name` only if it has no value yet; returns the value in force.
    pub async fn setting_init(&self, name: &str, value: &str) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.write)
        .await?;
        self.setting(name)
            .await?
            .ok_or(StoreError::NotFound("setting"))
    }

    // ---- applications ---------------------------------------------------------------------

    pub async fn create_app(&self, f: &AppFields) -> StoreResult<Application> {
        let now = crate::clock::now_ms();
        let id = ids::new_id(ids::APP);
        let res = sqlx::query(
            "INSERT INTO applications (id, uid, name, metadata, throttle_rate, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&f.uid)
        .bind(&f.name)
        .bind(to_json(&f.metadata))
        .bind(f.throttle_rate)
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "An application with this uid already exists".into(),
            )),
            Err(e) => Err(e.into()),
            Ok(_) => self.get_app(&id).await,
        }
    }

    /// Looks an application up by id or uid.
    pub async fn get_app(&self, id_or_uid: &str) -> StoreResult<Application> {
        let row = sqlx::query("SELECT * FROM applications WHERE id = ? OR uid = ? LIMIT 1")
            .bind(id_or_uid)
            .bind(id_or_uid)
            .fetch_optional(&self.write)
            .await?
            .ok_or(StoreError::NotFound("application"))?;
        app_from(&row)
    }

    pub async fn list_apps(&self, page: &Page) -> StoreResult<PageOut<Application>> {
        let mut sql = Sql::new("SELECT * FROM applications WHERE 1=1");
        let back = sql.page(page, "id");
        let rows = sql.fetch_all(&self.read).await?;
        let apps = rows.iter().map(app_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(page.finish(apps, back, |a| a.id.clone()))
    }

    pub async fn update_app(&self, id: &str, f: &AppFields) -> StoreResult<Application> {
        let res = sqlx::query(
            "UPDATE applications SET uid = ?, name = ?, metadata = ?, throttle_rate = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(&f.uid)
        .bind(&f.name)
        .bind(to_json(&f.metadata))
        .bind(f.throttle_rate)
        .bind(crate::clock::now_ms())
        .bind(id)
        .execute(&self.write)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "An application with this uid already exists".into(),
            )),
            Err(e) => Err(e.into()),
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound("application")),
            Ok(_) => self.get_app(id).await,
        }
    }

    pub async fn delete_app(&self, id: &str) -> StoreResult<()> {
        let r = sqlx::query("DELETE FROM applications WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("application"));
        }
        Ok(())
    }

    // ---- endpoints ------------------------------------------------------------------------

    pub async fn create_endpoint(
        &self,
        app_id: &str,
        f: &EndpointFields,
        headers: &serde_json::Map<String, Value>,
        secret: &str,
    ) -> StoreResult<Endpoint> {
        let now = crate::clock::now_ms();
        let id = ids::new_id(ids::ENDPOINT);
        let res = sqlx::query(
            "INSERT INTO endpoints (id, app_id, uid, url, description, secret, event_types, channels,
                disabled, headers, metadata, throttle_rate, options, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(app_id)
        .bind(&f.uid)
        .bind(&f.url)
        .bind(&f.description)
        .bind(secret)
        .bind(f.event_types.as_ref().map(to_json))
        .bind(f.channels.as_ref().map(to_json))
        .bind(f.disabled as i64)
        .bind(to_json(headers))
        .bind(to_json(&f.metadata))
        .bind(f.throttle_rate)
        .bind(to_json(&f.options))
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "An endpoint with this uid already exists".into(),
            )),
            Err(e) => Err(e.into()),
            Ok(_) => self.get_endpoint(app_id, &id).await,
        }
    }

    /// Looks an endpoint of `app_id` up by id or uid.
    pub async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> StoreResult<Endpoint> {
        let row =
            sqlx::query("SELECT * FROM endpoints WHERE app_id = ? AND (id = ? OR uid = ?) LIMIT 1")
                .bind(app_id)
                .bind(id_or_uid)
                .bind(id_or_uid)
                .fetch_optional(&self.write)
                .await?
                .ok_or(StoreError::NotFound("endpoint"))?;
        endpoint_from(&row)
    }

    pub async fn list_endpoints(
        &self,
        app_id: &str,
        page: &Page,
    ) -> StoreResult<PageOut<Endpoint>> {
        let mut sql = Sql::new("SELECT * FROM endpoints WHERE app_id = ?");
        sql.text(app_id);
        let back = sql.page(page, "id");
        let rows = sql.fetch_all(&self.read).await?;
        let eps = rows
            .iter()
            .map(endpoint_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page.finish(eps, back, |e| e.id.clone()))
    }

    /// Writes every field of `ep` back (the API reads, changes and saves whole endpoints).
    pub async fn save_endpoint(&self, ep: &Endpoint) -> StoreResult<Endpoint> {
        let res = sqlx::query(
            "UPDATE endpoints SET uid = ?, url = ?, description = ?, secret = ?, old_secrets = ?,
                event_types = ?, channels = ?, disabled = ?, disabled_reason = ?, headers = ?,
                metadata = ?, throttle_rate = ?, options = ?, updated_at = ?
             WHERE id = ? AND app_id = ?",
        )
        .bind(&ep.uid)
        .bind(&ep.url)
        .bind(&ep.description)
        .bind(&ep.secret)
        .bind(to_json(&ep.old_secrets))
        .bind(ep.event_types.as_ref().map(to_json))
        .bind(ep.channels.as_ref().map(to_json))
        .bind(ep.disabled as i64)
        .bind(&ep.disabled_reason)
        .bind(to_json(&ep.headers))
        .bind(to_json(&ep.metadata))
        .bind(ep.throttle_rate)
        .bind(to_json(&ep.options))
        .bind(crate::clock::now_ms())
        .bind(&ep.id)
        .bind(&ep.app_id)
        .execute(&self.write)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "An endpoint with this uid already exists".into(),
            )),
            Err(e) => Err(e.into()),
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound("endpoint")),
            Ok(_) => self.get_endpoint(&ep.app_id, &ep.id).await,
        }
    }

    pub async fn delete_endpoint(&self, app_id: &str, id: &str) -> StoreResult<()> {
        let r = sqlx::query("DELETE FROM endpoints WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(id)
            .execute(&self.write)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("endpoint"));
        }
        Ok(())
    }

    /// Disables an endpoint and records why (e.g. the receiver answered 410 Gone).
    pub async fn disable_endpoint(&self, id: &str, reason: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE endpoints SET disabled = 1, disabled_reason = ?, updated_at = ? WHERE id = ?",
        )
        .bind(reason)
        .bind(crate::clock::now_ms())
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Endpoints by id, fresh from the writer (so a change applies to the very next delivery).
    pub async fn endpoints_by_ids(&self, ids: &[String]) -> StoreResult<Vec<Endpoint>> {
        let rows = rows_by_ids("endpoints", ids, &self.write).await?;
        rows.iter().map(endpoint_from).collect()
    }

    // ---- event types ----------------------------------------------------------------------

    pub async fn create_event_type(
        &self,
        name: &str,
        f: &EventTypeFields,
    ) -> StoreResult<EventType> {
        let now = crate::clock::now_ms();
        let res = sqlx::query(
            "INSERT INTO event_types (name, description, archived, deprecated, feature_flag, schemas,
                created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(&f.description)
        .bind(f.archived as i64)
        .bind(f.deprecated as i64)
        .bind(&f.feature_flag)
        .bind(f.schemas.as_ref().map(to_json))
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "An event type with this name already exists".into(),
            )),
            Err(e) => Err(e.into()),
            Ok(_) => self.get_event_type(name).await,
        }
    }

    pub async fn get_event_type(&self, name: &str) -> StoreResult<EventType> {
        let row = sqlx::query("SELECT * FROM event_types WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.write)
            .await?
            .ok_or(StoreError::NotFound("event type"))?;
        event_type_from(&row)
    }

    pub async fn list_event_types(
        &self,
        page: &Page,
        include_archived: bool,
    ) -> StoreResult<PageOut<EventType>> {
        let mut sql = Sql::new("SELECT * FROM event_types WHERE 1=1");
        if !include_archived {
            sql.push(" AND archived = 0");
        }
        let back = sql.page(page, "name");
        let rows = sql.fetch_all(&self.read).await?;
        let list = rows
            .iter()
            .map(event_type_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page.finish(list, back, |e| e.name.clone()))
    }

    pub async fn update_event_type(
        &self,
        name: &str,
        f: &EventTypeFields,
    ) -> StoreResult<EventType> {
        let r = sqlx::query(
            "UPDATE event_types SET description = ?, archived = ?, deprecated = ?, feature_flag = ?,
                schemas = ?, updated_at = ? WHERE name = ?",
        )
        .bind(&f.description)
        .bind(f.archived as i64)
        .bind(f.deprecated as i64)
        .bind(&f.feature_flag)
        .bind(f.schemas.as_ref().map(to_json))
        .bind(crate::clock::now_ms())
        .bind(name)
        .execute(&self.write)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("event type"));
        }
        self.get_event_type(name).await
    }

    pub async fn delete_event_type(&self, name: &str) -> StoreResult<()> {
        let r = sqlx::query("DELETE FROM event_types WHERE name = ?")
            .bind(name)
            .execute(&self.write)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("event type"));
        }
        Ok(())
    }

    // ---- messages -------------------------------------------------------------------------

    /// Stores a message and one delivery per matching endpoint in one transaction: once this
    /// returns, the message is durable and will be delivered.
    /// `only_endpoint` limits the fan-out to one endpoint (example messages).
    pub async fn publish(
        &self,
        app_id: &str,
        m: &NewMessage,
        only_endpoint: Option<&str>,
    ) -> StoreResult<Message> {
        let now = crate::clock::now_ms();
        let id = ids::new_id(ids::MESSAGE);
        let mut tx = self.write.begin().await?;
        if let Some(eid) = &m.event_id {
            let dup: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM messages WHERE app_id = ? AND event_id = ? AND created_at > ? LIMIT 1",
            )
            .bind(app_id)
            .bind(eid)
            .bind(now - EVENT_ID_WINDOW_MS)
            .fetch_optional(&mut *tx)
            .await?;
            if dup.is_some() {
                return Err(StoreError::Conflict(format!(
                    "A message with eventId {eid} was already published in the last 24 hours"
                )));
            }
        }
        sqlx::query(
            "INSERT INTO messages (id, app_id, event_id, event_type, payload, channels, tags, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(app_id)
        .bind(&m.event_id)
        .bind(&m.event_type)
        .bind(&m.payload)
        .bind(m.channels.as_ref().map(to_json))
        .bind(m.tags.as_ref().map(to_json))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query("SELECT * FROM endpoints WHERE app_id = ?")
            .bind(app_id)
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let ep = endpoint_from(row)?;
            if only_endpoint.is_some_and(|only| only != ep.id) {
                continue;
            }
            if only_endpoint.is_none() && !ep.matches(&m.event_type, m.channels.as_deref()) {
                continue;
            }
            let (status, next) = if ep.disabled {
                (DeliveryStatus::Skipped, None)
            } else {
                (DeliveryStatus::Pending, Some(now))
            };
            sqlx::query(
                "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, next_attempt_at,
                    created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(ids::new_id(ids::DELIVERY))
            .bind(app_id)
            .bind(&id)
            .bind(&ep.id)
            .bind(status as i64)
            .bind(next)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Message {
            id,
            app_id: app_id.to_string(),
            event_id: m.event_id.clone(),
            event_type: m.event_type.clone(),
            payload: Some(m.payload.clone()),
            channels: m.channels.clone(),
            tags: m.tags.clone(),
            created_at: now,
        })
    }

    /// Looks a message of `app_id` up by id or by its `eventId`.
    pub async fn get_message(&self, app_id: &str, id_or_event_id: &str) -> StoreResult<Message> {
        let row = sqlx::query(
            "SELECT * FROM messages WHERE app_id = ? AND (id = ? OR event_id = ?)
             ORDER BY id DESC LIMIT 1",
        )
        .bind(app_id)
        .bind(id_or_event_id)
        .bind(id_or_event_id)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StoreError::NotFound("message"))?;
        message_from(&row)
    }

    pub async fn messages_by_ids(&self, ids: &[String]) -> StoreResult<Vec<Message>> {
        let rows = rows_by_ids("messages", ids, &self.read).await?;
        rows.iter().map(message_from).collect()
    }

    pub async fn list_messages(
        &self,
        app_id: &str,
        f: &ListFilter,
        page: &Page,
    ) -> StoreResult<PageOut<Message>> {
        let mut sql = Sql::new("SELECT m.* FROM messages m WHERE m.app_id = ?");
        sql.text(app_id).filters(f, "m.created_at");
        let back = sql.page(page, "m.id");
        let rows = sql.fetch_all(&self.read).await?;
        let list = rows
            .iter()
            .map(message_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page.finish(list, back, |m| m.id.clone()))
    }

    pub async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<()> {
        let r = sqlx::query("UPDATE messages SET payload = NULL WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(msg_id)
            .execute(&self.write)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("message"));
        }
        Ok(())
    }

    // ---- deliveries -----------------------------------------------------------------------

    /// Deliveries of one endpoint with their messages, newest message first.
    pub async fn list_endpoint_deliveries(
        &self,
        endpoint_id: &str,
        f: &ListFilter,
        page: &Page,
    ) -> StoreResult<PageOut<(Delivery, Message)>> {
        let mut sql = Sql::new(&format!(
            "SELECT {DELIVERY_COLS}, m.* FROM deliveries d JOIN messages m ON m.id = d.msg_id
             WHERE d.endpoint_id = ?"
        ));
        sql.text(endpoint_id).filters(f, "m.created_at");
        if let Some(s) = f.status {
            sql.push(" AND (CASE d.status WHEN 4 THEN 2 ELSE d.status END) = ?")
                .int(s);
        }
        let back = sql.page(page, "d.msg_id");
        let rows = sql.fetch_all(&self.read).await?;
        let list = rows
            .iter()
            .map(|r| Ok((delivery_from(r)?, message_from(r)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page.finish(list, back, |(d, _)| d.msg_id.clone()))
    }

    /// Deliveries of one message with their endpoints.
    pub async fn list_message_deliveries(
        &self,
        msg_id: &str,
        page: &Page,
    ) -> StoreResult<PageOut<(Delivery, Endpoint)>> {
        let mut sql = Sql::new(&format!(
            "SELECT {DELIVERY_COLS}, e.* FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
             WHERE d.msg_id = ?"
        ));
        sql.text(msg_id);
        let back = sql.page(page, "d.endpoint_id");
        let rows = sql.fetch_all(&self.read).await?;
        let list = rows
            .iter()
            .map(|r| Ok((delivery_from(r)?, endpoint_from(r)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page.finish(list, back, |(d, _)| d.endpoint_id.clone()))
    }

    pub async fn endpoint_stats(
        &self,
        endpoint_id: &str,
        since: Option<i64>,
        until: Option<i64>,
    ) -> StoreResult<EndpointStats> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE endpoint_id = ?
               AND created_at >= ? AND created_at <= ? GROUP BY status",
        )
        .bind(endpoint_id)
        .bind(since.unwrap_or(i64::MIN))
        .bind(until.unwrap_or(i64::MAX))
        .fetch_all(&self.read)
        .await?;
        let mut s = EndpointStats::default();
        for r in rows {
            let n: i64 = r.try_get("n")?;
            match DeliveryStatus::from_i64(r.try_get("status")?) {
                DeliveryStatus::Success => s.success += n,
                DeliveryStatus::Pending => s.pending += n,
                DeliveryStatus::Failed => s.fail += n,
                DeliveryStatus::Sending => s.sending += n,
                DeliveryStatus::Skipped => s.canceled += n,
            }
        }
        Ok(s)
    }

    /// Queues a new manual attempt of `msg_id` to `endpoint_id`, starting a fresh retry cycle.
    /// Creates the delivery if the message never had one for this endpoint.
    pub async fn resend(&self, app_id: &str, msg_id: &str, endpoint_id: &str) -> StoreResult<()> {
        let now = crate::clock::now_ms();
        sqlx::query(
            "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, next_attempt_at,
                next_trigger, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, 1, ?, ?)
             ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = 1, tries = 0,
                next_attempt_at = excluded.next_attempt_at, next_trigger = 1, lease_until = NULL,
                lease_token = NULL, updated_at = excluded.updated_at",
        )
        .bind(ids::new_id(ids::DELIVERY))
        .bind(app_id)
        .bind(msg_id)
        .bind(endpoint_id)
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Requeues the failed (and skipped) deliveries of an endpoint whose messages were published
    /// in `[since, until]`; returns how many.
    pub async fn recover(
        &self,
        endpoint_id: &str,
        since: i64,
        until: Option<i64>,
    ) -> StoreResult<u64> {
        let now = crate::clock::now_ms();
        let r = sqlx::query(
            "UPDATE deliveries SET status = 1, tries = 0, next_attempt_at = ?, next_trigger = 1,
                updated_at = ?
             WHERE endpoint_id = ? AND status IN (2, 4) AND created_at >= ? AND created_at <= ?",
        )
        .bind(now)
        .bind(now)
        .bind(endpoint_id)
        .bind(since)
        .bind(until.unwrap_or(i64::MAX))
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected())
    }

    /// Queues every message of the app in `[since, until]` that matches the endpoint but was never
    /// attempted for it (published before it existed, or skipped while it was disabled).
    pub async fn replay_missing(
        &self,
        ep: &Endpoint,
        since: i64,
        until: Option<i64>,
    ) -> StoreResult<u64> {
        let now = crate::clock::now_ms();
        let until = until.unwrap_or(i64::MAX);
        let mut tx = self.write.begin().await?;
        let skipped = sqlx::query(
            "UPDATE deliveries SET status = 1, tries = 0, next_attempt_at = ?, next_trigger = 1,
                updated_at = ?
             WHERE endpoint_id = ? AND status = 4 AND created_at >= ? AND created_at <= ?",
        )
        .bind(now)
        .bind(now)
        .bind(&ep.id)
        .bind(since)
        .bind(until)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let rows = sqlx::query(
            "SELECT m.* FROM messages m WHERE m.app_id = ? AND m.created_at >= ? AND m.created_at <= ?
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = ?)",
        )
        .bind(&ep.app_id)
        .bind(since)
        .bind(until)
        .bind(&ep.id)
        .fetch_all(&mut *tx)
        .await?;
        let mut added = 0;
        for row in &rows {
            let m = message_from(row)?;
            if m.payload.is_none() || !ep.matches(&m.event_type, m.channels.as_deref()) {
                continue;
            }
            sqlx::query(
                "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, next_attempt_at,
                    next_trigger, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, 1, ?, ?)",
            )
            .bind(ids::new_id(ids::DELIVERY))
            .bind(&ep.app_id)
            .bind(&m.id)
            .bind(&ep.id)
            .bind(now)
            .bind(m.created_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            added += 1;
        }
        tx.commit().await?;
        Ok(skipped + added)
    }

    // ---- the queue ------------------------------------------------------------------------

    /// Returns deliveries whose lease expired (their dispatcher died or stalled) to the queue.
    pub async fn reclaim_expired(&self, now: i64) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 1, lease_until = NULL, lease_token = NULL
             WHERE status = 3 AND lease_until < ?",
        )
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected())
    }

    /// Claims up to `limit` due deliveries under a lease until `lease_until`.
    pub async fn claim(&self, now: i64, limit: i64, lease_until: i64) -> StoreResult<Vec<Claimed>> {
        let token = fastrand::i64(1..i64::MAX);
        let rows = sqlx::query(
            "UPDATE deliveries SET status = 3, lease_until = ?, lease_token = ?, updated_at = ?
             WHERE id IN (SELECT id FROM deliveries WHERE status = 1 AND next_attempt_at <= ?
                          ORDER BY next_attempt_at LIMIT ?)
             RETURNING id, app_id, msg_id, endpoint_id, tries, next_trigger",
        )
        .bind(lease_until)
        .bind(token)
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Claimed {
                    delivery_id: r.try_get("id")?,
                    app_id: r.try_get("app_id")?,
                    msg_id: r.try_get("msg_id")?,
                    endpoint_id: r.try_get("endpoint_id")?,
                    tries: r.try_get("tries")?,
                    trigger: r.try_get("next_trigger")?,
                    lease_token: token,
                })
            })
            .collect()
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_due(&self) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 1")
                .fetch_one(&self.write)
                .await?,
        )
    }

    /// Extends the lease of claimed deliveries (their endpoint's timeout is longer than the
    /// default one the claim assumed).
    pub async fn extend_lease(&self, c: &Claimed, lease_until: i64) -> StoreResult<()> {
        sqlx::query("UPDATE deliveries SET lease_until = ? WHERE id = ? AND lease_token = ?")
            .bind(lease_until)
            .bind(&c.delivery_id)
            .bind(c.lease_token)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Puts a claimed delivery back without an attempt (e.g. its endpoint is busy).
    pub async fn release(
        &self,
        c: &Claimed,
        next_at: i64,
        status: DeliveryStatus,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL,
                lease_token = NULL, updated_at = ? WHERE id = ? AND lease_token = ?",
        )
        .bind(status as i64)
        .bind(next_at)
        .bind(crate::clock::now_ms())
        .bind(&c.delivery_id)
        .bind(c.lease_token)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Records an attempt and the delivery's next state in one transaction. The state changes only
    /// if this dispatcher still holds the lease; the attempt is logged either way (it happened).
    pub async fn finish(
        &self,
        c: &Claimed,
        attempt: &Attempt,
        next: NextStep,
    ) -> StoreResult<bool> {
        let now = crate::clock::now_ms();
        let (status, next_at) = match next {
            NextStep::Delivered => (DeliveryStatus::Success, None),
            NextStep::RetryAt(t) => (DeliveryStatus::Pending, Some(t)),
            NextStep::Failed => (DeliveryStatus::Failed, None),
        };
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, response,
                duration_ms, error, trigger_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&attempt.id)
        .bind(&attempt.app_id)
        .bind(&attempt.msg_id)
        .bind(&attempt.endpoint_id)
        .bind(&attempt.url)
        .bind(attempt.status)
        .bind(attempt.status_code)
        .bind(&attempt.response)
        .bind(attempt.duration_ms)
        .bind(&attempt.error)
        .bind(attempt.trigger_type)
        .bind(attempt.created_at)
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query(
            "UPDATE deliveries SET status = ?, tries = tries + 1, next_attempt_at = ?, lease_until = NULL,
                lease_token = NULL, next_trigger = 0, updated_at = ?
             WHERE id = ? AND lease_token = ? AND status = 3",
        )
        .bind(status as i64)
        .bind(next_at)
        .bind(now)
        .bind(&c.delivery_id)
        .bind(c.lease_token)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- attempts -------------------------------------------------------------------------

    /// Attempts, newest first, of one message (`by_msg`) or one endpoint.
    pub async fn list_attempts(
        &self,
        app_id: &str,
        by_msg: Option<&str>,
        by_endpoint: Option<&str>,
        f: &ListFilter,
        page: &Page,
    ) -> StoreResult<PageOut<Attempt>> {
        let mut sql = Sql::new(
            "SELECT a.* FROM attempts a JOIN messages m ON m.id = a.msg_id WHERE a.app_id = ?",
        );
        sql.text(app_id);
        if let Some(m) = by_msg {
            sql.push(" AND a.msg_id = ?").text(m);
        }
        if let Some(e) = by_endpoint.or(f.endpoint_id.as_deref()) {
            sql.push(" AND a.endpoint_id = ?").text(e);
        }
        if let Some(s) = f.status {
            sql.push(" AND a.status = ?").int(s);
        }
        if let Some(c) = f.status_code_class {
            if c == 0 {
                sql.push(" AND a.status_code = 0");
            } else {
                sql.push(" AND a.status_code >= ? AND a.status_code < ?")
                    .int(c)
                    .int(c + 100);
            }
        }
        sql.filters(f, "a.created_at");
        let back = sql.page(page, "a.id");
        let rows = sql.fetch_all(&self.read).await?;
        let list = rows
            .iter()
            .map(attempt_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page.finish(list, back, |a| a.id.clone()))
    }

    pub async fn get_attempt(&self, app_id: &str, msg_id: &str, id: &str) -> StoreResult<Attempt> {
        let row = sqlx::query("SELECT * FROM attempts WHERE app_id = ? AND msg_id = ? AND id = ?")
            .bind(app_id)
            .bind(msg_id)
            .bind(id)
            .fetch_optional(&self.write)
            .await?
            .ok_or(StoreError::NotFound("attempt"))?;
        attempt_from(&row)
    }

    pub async fn expunge_attempt(&self, app_id: &str, msg_id: &str, id: &str) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE attempts SET response = NULL WHERE app_id = ? AND msg_id = ? AND id = ?",
        )
        .bind(app_id)
        .bind(msg_id)
        .bind(id)
        .execute(&self.write)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("attempt"));
        }
        Ok(())
    }

    /// The latest attempt time and next attempt of each delivery is derived on read; this gives
    /// the time of the most recent attempt of a message to an endpoint.
    pub async fn last_attempt_at(
        &self,
        msg_id: &str,
        endpoint_id: &str,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(created_at) FROM attempts WHERE msg_id = ? AND endpoint_id = ?",
        )
        .bind(msg_id)
        .bind(endpoint_id)
        .fetch_one(&self.read)
        .await?)
    }

    // ---- tokens and idempotency -----------------------------------------------------------

    pub async fn add_app_token(
        &self,
        token_hash: &str,
        app_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO app_tokens (token_hash, app_id, expires_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(app_id)
            .bind(expires_at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The application a portal token belongs to, if the token is known and unexpired.
    pub async fn app_for_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT app_id FROM app_tokens WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn delete_app_token(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM app_tokens WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The stored response of an earlier request with this idempotency key, if recent.
    pub async fn idempotent_response(
        &self,
        key: &str,
        since: i64,
    ) -> StoreResult<Option<(u16, Vec<u8>)>> {
        let row =
            sqlx::query("SELECT status, body FROM idempotency WHERE key = ? AND created_at > ?")
                .bind(key)
                .bind(since)
                .fetch_optional(&self.write)
                .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let status: i64 = r.try_get("status")?;
                let status =
                    u16::try_from(status).map_err(|_| StoreError::Corrupt("status".into()))?;
                Ok(Some((status, r.try_get("body")?)))
            }
        }
    }

    pub async fn save_idempotent_response(
        &self,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO idempotency (key, status, body, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET status = excluded.status, body = excluded.body,
                created_at = excluded.created_at",
        )
        .bind(key)
        .bind(status as i64)
        .bind(body)
        .bind(crate::clock::now_ms())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Forgets idempotency keys and expired portal tokens older than `before`.
    pub async fn prune(&self, before: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency WHERE created_at < ?")
            .bind(before)
            .execute(&self.write)
            .await?;
        sqlx::query("DELETE FROM app_tokens WHERE expires_at < ?")
            .bind(crate::clock::now_ms())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
