//! Property tests of every wire format as Herald sends it: what `render` makes verifies with
//! `herald-verify` (the receivers' crate), and any change to what the format signs fails. The
//! standard format signs the id, the timestamp and the body; the vendor formats sign the
//! payload only (their receivers know no id nor time), so for them a changed body or key fails.

use proptest::prelude::*;

use super::{Format, Outgoing, Signing, render};

const SK: &str =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";

fn whsec(bytes: &[u8]) -> String {
    use base64::Engine;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn verify_format(f: Format) -> herald_verify::Format {
    match f {
        Format::Standard => herald_verify::Format::Standard,
        Format::Envelope => herald_verify::Format::Envelope,
        Format::PayloadString => herald_verify::Format::PayloadString,
        Format::HmacHeader => herald_verify::Format::HmacHeader,
    }
}

/// Verifies a rendered request as a receiver holding `secret` would, at time `now`.
fn verify(
    f: Format,
    secret: &str,
    header: &str,
    prefix: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Result<herald_verify::Verified, herald_verify::Error> {
    let v = herald_verify::Verifier::new(verify_format(f), &[secret])?
        .signature_header(header)
        .signature_prefix(prefix);
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    v.verify_at(&pairs, body, now)
}

/// A JSON payload as published: an object with a string and a number.
fn payload() -> impl Strategy<Value = String> {
    ("\\PC{0,80}", any::<i64>())
        .prop_map(|(s, n)| serde_json::json!({"s": s, "n": n, "ok": true}).to_string())
}

fn other_payload(p: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(p).unwrap();
    v["changed"] = true.into();
    v.to_string()
}

proptest! {
    #[test]
    fn every_format_round_trips_and_a_changed_body_or_key_fails(
        fmt in prop::sample::select(vec![Format::Standard, Format::Envelope, Format::PayloadString, Format::HmacHeader]),
        key in prop::collection::vec(any::<u8>(), 24..64),
        other_key in prop::collection::vec(any::<u8>(), 24..64),
        plain in "[!-~]{1,40}",
        other_plain in "[!-~]{1,40}",
        ed in any::<bool>(),
        payload in payload(),
        id in "msg_[a-zA-Z0-9]{1,24}",
        ts in 1_000_000_000i64..4_000_000_000,
        prefix in prop::sample::select(vec!["", "sha256="]),
    ) {
        let (secret, other) = match fmt {
            Format::Standard if ed => (SK.to_string(), whsec(&key)),
            Format::Standard => (whsec(&key), whsec(&other_key)),
            _ => (plain.clone(), other_plain.clone()),
        };
        prop_assume!(secret != other);
        let header = "X-Signature";
        let created = "2026-01-01T00:00:00.000Z";
        let out = |payload: &str| render(
            &Outgoing { msg_id: &id, event_id: None, created_at: created, payload, timestamp: ts },
            &Signing { format: fmt, secrets: &[&secret], header: Some(header), prefix: Some(prefix) },
        );
        let r = out(&payload);
        let ok = verify(fmt, &secret, header, prefix, &r.headers, &r.body, ts);
        prop_assert!(ok.is_ok(), "{fmt:?}: {ok:?}");
        prop_assert_eq!(ok.unwrap().payload, payload.clone());

        // Another key does not verify it.
        prop_assert!(verify(fmt, &other, header, prefix, &r.headers, &r.body, ts).is_err());

        // The body of another payload under this request's signature does not verify.
        let changed = out(&other_payload(&payload));
        if fmt != Format::Envelope {
            prop_assert!(verify(fmt, &secret, header, prefix, &r.headers, &changed.body, ts).is_err());
        } else {
            // The envelope carries its signature in the body: graft the original one on.
            let mut v: serde_json::Value = serde_json::from_slice(&changed.body).unwrap();
            let orig: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["signature"] = orig["signature"].clone();
            let grafted = serde_json::to_vec(&v).unwrap();
            prop_assert!(verify(fmt, &secret, header, prefix, &r.headers, &grafted, ts).is_err());
        }
    }

    #[test]
    fn standard_signs_the_id_and_the_timestamp(
        key in prop::collection::vec(any::<u8>(), 24..64),
        ed in any::<bool>(),
        payload in payload(),
        id in "msg_[a-zA-Z0-9]{1,24}",
        other_id in "msg_[a-zA-Z0-9]{1,24}",
        ts in 1_000_000_000i64..4_000_000_000,
        shift in prop_oneof![-300i64..0, 1i64..300],
    ) {
        prop_assume!(id != other_id);
        let secret = if ed { SK.to_string() } else { whsec(&key) };
        let r = render(
            &Outgoing { msg_id: &id, event_id: None, created_at: "2026-01-01T00:00:00.000Z", payload: &payload, timestamp: ts },
            &Signing { format: Format::Standard, secrets: &[&secret], header: None, prefix: None },
        );
        let replace = |name: &str, value: String| -> Vec<(String, String)> {
            r.headers.iter().map(|(k, v)| {
                if k == name { (k.clone(), value.clone()) } else { (k.clone(), v.clone()) }
            }).collect()
        };
        prop_assert!(verify(Format::Standard, &secret, "", "", &r.headers, &r.body, ts).is_ok());
        let other_id_headers = replace("webhook-id", other_id);
        prop_assert!(verify(Format::Standard, &secret, "", "", &other_id_headers, &r.body, ts).is_err());
        // A shifted timestamp within the tolerance still fails: it is signed.
        let moved = replace("webhook-timestamp", (ts + shift).to_string());
        prop_assert!(verify(Format::Standard, &secret, "", "", &moved, &r.body, ts).is_err());
    }
}
