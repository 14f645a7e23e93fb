//! The event-type catalog.

use super::db::q;
use super::is_unique_violation;
use super::rows::{self, to_json};
use super::{EventTypeFields, Page, PageOut, Store, StoreError, StoreResult};
use crate::model::EventType;

impl Store {
    pub async fn create_event_type(
        &self,
        name: &str,
        f: &EventTypeFields,
    ) -> StoreResult<EventType> {
        let now = crate::clock::now_ms();
        self.db
            .exec(
                q("INSERT INTO event_types (name, description, archived, deprecated, feature_flag,
                      schemas, validate_payloads, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(name)
                .bind(&f.description)
                .bind(f.archived)
                .bind(f.deprecated)
                .bind(&f.feature_flag)
                .bind(f.schemas.as_ref().map(to_json))
                .bind(f.validate_payloads)
                .bind(now)
                .bind(now),
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("An event type with this name already exists".into())
                } else {
                    e
                }
            })?;
        self.get_event_type(name).await
    }

    pub async fn get_event_type(&self, name: &str) -> StoreResult<EventType> {
        let row = self
            .db
            .opt(q("SELECT * FROM event_types WHERE name = ?").bind(name))
            .await?
            .ok_or(StoreError::NotFound("event type"))?;
        rows::event_type(&row)
    }

    pub async fn list_event_types(
        &self,
        page: &Page,
        include_archived: bool,
    ) -> StoreResult<PageOut<EventType>> {
        let mut sql = q("SELECT * FROM event_types WHERE 1=1");
        if !include_archived {
            sql.push(" AND archived = 0");
        }
        let back = page.apply(&mut sql, "name");
        let (found, cut) = self.db.all_capped(sql, super::page::MAX_PAGE_BYTES).await?;
        let list = rows::each(&found, rows::event_type)?;
        Ok(page.finish(list, back, cut, |e| e.name.clone()))
    }

    pub async fn update_event_type(
        &self,
        name: &str,
        f: &EventTypeFields,
    ) -> StoreResult<EventType> {
        let n = self
            .db
            .exec(
                q(
                    "UPDATE event_types SET description = ?, archived = ?, deprecated = ?,
                      feature_flag = ?, schemas = ?, validate_payloads = ?, updated_at = ?
                   WHERE name = ?",
                )
                .bind(&f.description)
                .bind(f.archived)
                .bind(f.deprecated)
                .bind(&f.feature_flag)
                .bind(f.schemas.as_ref().map(to_json))
                .bind(f.validate_payloads)
                .bind(crate::clock::now_ms())
                .bind(name),
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound("event type"));
        }
        self.get_event_type(name).await
    }

    pub async fn delete_event_type(&self, name: &str) -> StoreResult<()> {
        let n = self
            .db
            .exec(q("DELETE FROM event_types WHERE name = ?").bind(name))
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound("event type"));
        }
        Ok(())
    }
}
