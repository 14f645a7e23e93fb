//! SQL text and its bound values, as both backends take them: the leaf the backends build on.
//! Queries are written once, in the SQL both dialects share, with `?` placeholders (renumbered
//! `$1, $2, ...` for PostgreSQL).

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Vec<u8>),
    /// Arrays, bound as `text[]` and `bigint[]` (PostgreSQL only: a batch's columns).
    Texts(Vec<Option<String>>),
    Ints(Vec<Option<i64>>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(Some(v as i64))
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(v.to_vec())
    }
}

/// A value borrowed from a row for binding: a batch's rows are bound where they are, without
/// copying each field into an [`Arg`] first (SQLite binds them as they are; PostgreSQL copies
/// them once, into its column arrays).
#[derive(Debug, Clone, Copy)]
pub(super) enum Val<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

impl<'a> From<&'a str> for Val<'a> {
    fn from(v: &'a str) -> Self {
        Val::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Val<'a> {
    fn from(v: &'a String) -> Self {
        Val::Text(Some(v))
    }
}
impl<'a> From<&'a Option<String>> for Val<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Val::Text(v.as_deref())
    }
}
impl<'a> From<Option<&'a str>> for Val<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Val::Text(v)
    }
}
macro_rules! id_values {
    ($($t:ty),*) => {$(
        impl<'a> From<&'a $t> for Val<'a> {
            fn from(v: &'a $t) -> Self {
                Val::Text(Some(v.as_str()))
            }
        }
        impl From<&$t> for Arg {
            fn from(v: &$t) -> Self {
                Arg::Text(Some(v.to_string()))
            }
        }
    )*};
}
id_values!(
    crate::ids::AppId,
    crate::ids::EndpointId,
    crate::ids::MessageId,
    crate::ids::AttemptId,
    crate::ids::DeliveryId
);

impl From<i64> for Val<'_> {
    fn from(v: i64) -> Self {
        Val::Int(Some(v))
    }
}
impl From<Option<i64>> for Val<'_> {
    fn from(v: Option<i64>) -> Self {
        Val::Int(v)
    }
}

/// SQL text plus its bound values, in order.
#[derive(Debug, Clone, Default)]
pub(super) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

/// Starts a query.
pub(super) fn q(text: &str) -> Sql {
    Sql {
        text: text.to_string(),
        args: Vec::new(),
    }
}

impl Sql {
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Binds the next placeholder.
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Binds the next placeholder of a query built up in steps.
    pub fn arg(&mut self, v: impl Into<Arg>) -> &mut Self {
        self.args.push(v.into());
        self
    }
}

/// Placeholders `?, ?, ...` for an IN list.
pub(super) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `?` placeholders as PostgreSQL's `$1, $2, ...` (Herald's SQL has no `?` inside literals).
pub(super) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn numbers_placeholders() {
        assert_eq!(
            numbered("SELECT * FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
