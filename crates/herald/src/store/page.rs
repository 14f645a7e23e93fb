//! Cursor pagination: lists are ordered by a unique key and an iterator names the last key seen.
//! `prevIterator` is the first key seen with a `-` in front, meaning "the page before this key".

/// Most bytes of rows a page holds: a page of large messages stops early (with an iterator to
/// go on), so what a list costs in memory does not follow what a client asks for.
pub const MAX_PAGE_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// A page request.
#[derive(Debug, Clone)]
pub struct Page {
    pub limit: i64,
    pub iterator: Option<String>,
    pub order: Order,
}

/// A page of results with the iterators to go on.
#[derive(Debug, Clone)]
pub struct PageOut<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl Page {
    /// The SQL condition on `key` (with `?` placeholder for the bound cursor, if any), the ORDER BY
    /// direction, the cursor value to bind, and whether the rows must be reversed after fetching.
    pub(crate) fn plan(&self, key: &str) -> (String, &'static str, Option<String>, bool) {
        let (backwards, cursor) = match &self.iterator {
            Some(it) if it.starts_with('-') => (true, Some(it[1..].to_string())),
            Some(it) if !it.is_empty() => (false, Some(it.clone())),
            _ => (false, None),
        };
        // Walking backwards flips the direction of the scan; the rows are reversed afterwards.
        let ascending = (self.order == Order::Ascending) != backwards;
        let cond = match &cursor {
            Some(_) if ascending => format!("{key} > ?"),
            Some(_) => format!("{key} < ?"),
            None => "1=1".to_string(),
        };
        let dir = if ascending { "ASC" } else { "DESC" };
        (cond, dir, cursor, backwards)
    }

    /// Appends the cursor condition, order and limit on `key` to a query; returns whether the
    /// rows come back reversed (to pass to [`Page::finish`]).
    pub(super) fn apply(&self, sql: &mut super::db::Sql, key: &str) -> bool {
        let (cond, dir, cursor, backwards) = self.plan(key);
        sql.push(&format!(" AND {cond}"));
        if let Some(c) = cursor {
            sql.arg(c);
        }
        sql.push(&format!(" ORDER BY {key} {dir} LIMIT ?"))
            .arg(self.limit + 1);
        backwards
    }

    /// Builds the page from `limit + 1` fetched rows; `cut`: the rows were cut short by
    /// [`MAX_PAGE_BYTES`], so there are more.
    pub(crate) fn finish<T>(
        &self,
        mut rows: Vec<T>,
        backwards: bool,
        cut: bool,
        key: impl Fn(&T) -> String,
    ) -> PageOut<T> {
        let more = rows.len() as i64 > self.limit || cut;
        rows.truncate(self.limit as usize);
        if backwards {
            rows.reverse();
        }
        let first = rows.first().map(&key);
        let last = rows.last().map(&key);
        let (done, iterator) = if backwards {
            // Going back, what lies forward is the page we came from.
            (
                false,
                last.or_else(|| self.iterator.as_ref().map(|s| s[1..].to_string())),
            )
        } else {
            (!more, last.or_else(|| self.iterator.clone()))
        };
        let prev_iterator = match (backwards, more, first) {
            (true, false, _) => None,
            (_, _, Some(f)) => Some(format!("-{f}")),
            (_, _, None) => None,
        };
        PageOut {
            data: rows,
            iterator,
            prev_iterator,
            done,
        }
    }
}
