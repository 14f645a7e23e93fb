//! Pretty JSON for people: indentation added to the text as stored, so keys keep the order
//! and numbers the spelling they were published with (a parse and re-serialise would sort keys
//! and may round numbers).

/// `raw` indented by two spaces per level, if it is JSON (the portal shows payloads and schemas
/// with it, `herald listen` what arrives).
pub fn pretty(raw: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(raw).ok()?;
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = raw.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on one line.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// `raw` pretty if it is JSON, else as it is.
pub fn pretty_or_raw(raw: &str) -> String {
    pretty(raw).unwrap_or_else(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::{pretty, pretty_or_raw};

    #[test]
    fn indents_keeping_order_and_spelling() {
        assert_eq!(
            pretty_or_raw(r#"{"b":1.50,"a":[1, {}, []],"s":"x, {y}: \"z\""}"#),
            "{\n  \"b\": 1.50,\n  \"a\": [\n    1,\n    {},\n    []\n  ],\n  \"s\": \"x, {y}: \\\"z\\\"\"\n}"
        );
        assert_eq!(pretty_or_raw("not json {"), "not json {");
        assert_eq!(pretty_or_raw("{}"), "{}");
        assert!(pretty("not json").is_none());
    }

    #[test]
    fn escapes_and_empty_containers() {
        let p = pretty(r#"{"z":1,"a":{"s":"x,\"y\"}"},"e":[],"o":{ },"l":[1, 2.50]}"#).unwrap();
        assert_eq!(
            p,
            "{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"x,\\\"y\\\"}\"\n  },\n  \"e\": [],\n  \"o\": {},\n  \"l\": [\n    1,\n    2.50\n  ]\n}"
        );
    }
}
