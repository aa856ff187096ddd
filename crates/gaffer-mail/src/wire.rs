//! Decoding the Agent Mail server's replies, leniently (spec agentmail.md §2, §3, §8): wrapped
//! or bare lists, `agent` or `agent_name`, bools as 0/1, holders as names or objects,
//! timestamps with or without an offset.

use chrono::{DateTime, NaiveDateTime, Utc};
use gaffer_core::mailbox::*;
use gaffer_core::time::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Maps an HTTP status and body to the JSON-RPC `result`, or a typed error.
pub fn decode_response(status: u16, body: &str) -> Result<Value, MailError> {
    let short: String = body.chars().take(200).collect();
    match status {
        401 => return Err(MailError::Unauthorized(format!("HTTP 401: {short}"))),
        403 => {
            return Err(MailError::Unauthorized(format!(
                "HTTP 403 forbidden: {short}"
            )));
        }
        404 => {
            return Err(MailError::Unavailable(format!(
                "HTTP 404: no MCP endpoint at this URL: {short}"
            )));
        }
        408 | 504 => return Err(MailError::Timeout(format!("HTTP {status}: {short}"))),
        429 | 500..=599 => return Err(MailError::Unavailable(format!("HTTP {status}: {short}"))),
        _ => {}
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|e| MailError::Protocol(format!("HTTP {status}: not JSON ({e}): {short}")))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let lower = msg.to_ascii_lowercase();
        if lower.contains("not found") || lower.contains("unknown resource") {
            return Err(MailError::NotFound(msg));
        }
        return Err(MailError::Invalid(format!("JSON-RPC error {code}: {msg}")));
    }
    if !(200..300).contains(&status) {
        return Err(MailError::Invalid(format!("HTTP {status}: {short}")));
    }
    match v.get("result") {
        Some(r) => Ok(r.clone()),
        None => Err(MailError::Protocol(format!(
            "reply has neither result nor error: {short}"
        ))),
    }
}

/// Maps the text of an `isError` reply to a typed error.
pub fn tool_error(tool: &str, text: &str) -> MailError {
    let lower = text.to_ascii_lowercase();
    let msg = format!("{tool}: {text}");
    if lower.contains("busy") || lower.contains("temporarily unavailable") {
        MailError::Unavailable(msg)
    } else if lower.contains("unknown tool") {
        MailError::Invalid(msg)
    } else if lower.contains("not found") || lower.contains("not registered") {
        MailError::NotFound(msg)
    } else if lower.contains("unauthorized")
        || lower.contains("forbidden")
        || lower.contains("authentication")
    {
        MailError::Unauthorized(msg)
    } else if lower.contains("conflict") || lower.contains("refusing") {
        MailError::Conflict(msg)
    } else if lower.contains("timed out") || lower.contains("timeout") {
        MailError::Timeout(msg)
    } else {
        MailError::Invalid(msg)
    }
}

/// Unwraps a `tools/call` result: `isError` → error; else `structuredContent` (a
/// `{"result": …}` wrapper is removed); else `content[0].text` parsed as JSON; else the result.
pub fn unwrap_tool_result(tool: &str, result: Value) -> Result<Value, MailError> {
    let first_text = result
        .get("content")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        return Err(tool_error(
            tool,
            first_text.as_deref().unwrap_or("tool error"),
        ));
    }
    if let Some(sc) = result.get("structuredContent").filter(|v| !v.is_null()) {
        if let Some(obj) = sc.as_object() {
            if obj.len() == 1 {
                if let Some(inner) = obj.get("result") {
                    return Ok(inner.clone());
                }
            }
        }
        return Ok(sc.clone());
    }
    if let Some(t) = first_text {
        return Ok(serde_json::from_str(&t).unwrap_or(Value::String(t)));
    }
    if result
        .get("content")
        .and_then(Value::as_array)
        .is_some_and(|c| c.is_empty())
    {
        return Ok(Value::Array(Vec::new()));
    }
    Ok(result)
}

/// Unwraps a `resources/read` result: `contents[0].text` parsed as JSON.
pub fn unwrap_resource(result: Value) -> Result<Value, MailError> {
    let text = result
        .get("contents")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .ok_or_else(|| MailError::Protocol("resource reply without contents[0].text".into()))?;
    serde_json::from_str(text)
        .map_err(|e| MailError::Protocol(format!("resource text is not JSON: {e}")))
}

/// Decodes a value with serde.
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, MailError> {
    serde_json::from_value(v).map_err(|e| MailError::Protocol(format!("unexpected reply: {e}")))
}

/// A list, bare or wrapped in `{"result": [...]}`.
pub fn list(v: Value) -> Result<Vec<Value>, MailError> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Object(mut o) => match o.remove("result") {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(MailError::Protocol("expected a list".into())),
        },
        Value::Null => Ok(Vec::new()),
        _ => Err(MailError::Protocol("expected a list".into())),
    }
}

/// A timestamp: RFC 3339, or `YYYY-MM-DDTHH:MM:SS[.f]` taken as UTC.
pub fn timestamp(v: Option<&Value>) -> Option<Timestamp> {
    let s = v?.as_str()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
        .map(|n| n.and_utc())
}

/// A bool, also from 0/1 or "true".
pub fn boolean(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

fn string(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").to_string()
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn agent_of(v: &Value) -> String {
    let a = string(v.get("agent"));
    if a.is_empty() {
        string(v.get("agent_name"))
    } else {
        a
    }
}

/// One reservation row (`agent` or `agent_name`).
pub fn reservation(v: &Value) -> Result<Reservation, MailError> {
    let id =
        int(v.get("id")).ok_or_else(|| MailError::Protocol("reservation without id".into()))?;
    let expires_ts = timestamp(v.get("expires_ts"))
        .ok_or_else(|| MailError::Protocol(format!("reservation {id} without expires_ts")))?;
    Ok(Reservation {
        id,
        agent_name: agent_of(v),
        path_pattern: string(v.get("path_pattern")),
        exclusive: boolean(v.get("exclusive")),
        reason: string(v.get("reason")),
        created_ts: timestamp(v.get("created_ts")),
        expires_ts,
        released_ts: timestamp(v.get("released_ts")),
    })
}

/// The reply of `file_reservation_paths`; granted rows lack the agent, so `agent` fills it.
pub fn reserve_result(v: &Value, agent: &str) -> Result<ReserveResult, MailError> {
    let granted = v
        .get("granted")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|g| {
                    let mut r = reservation(g)?;
                    if r.agent_name.is_empty() {
                        r.agent_name = agent.to_string();
                    }
                    Ok(r)
                })
                .collect::<Result<Vec<_>, MailError>>()
        })
        .transpose()?
        .unwrap_or_default();
    let conflicts = v
        .get("conflicts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| PathConflict {
                    path: string(c.get("path")),
                    holders: c
                        .get("holders")
                        .and_then(Value::as_array)
                        .map(|hs| {
                            hs.iter()
                                .map(|h| match h {
                                    Value::String(name) => ConflictHolder {
                                        agent_name: name.clone(),
                                        path_pattern: String::new(),
                                        exclusive: true,
                                        expires_ts: None,
                                    },
                                    h => ConflictHolder {
                                        agent_name: agent_of(h),
                                        path_pattern: string(h.get("path_pattern")),
                                        exclusive: h
                                            .get("exclusive")
                                            .map(|x| boolean(Some(x)))
                                            .unwrap_or(true),
                                        expires_ts: timestamp(h.get("expires_ts")),
                                    },
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ReserveResult { granted, conflicts })
}

/// One inbox entry.
pub fn inbox_message(v: &Value) -> Result<InboxMessage, MailError> {
    let id = int(v.get("id")).ok_or_else(|| MailError::Protocol("message without id".into()))?;
    Ok(InboxMessage {
        id,
        from: string(v.get("from")),
        subject: string(v.get("subject")),
        body_md: v.get("body_md").and_then(Value::as_str).map(str::to_string),
        importance: Importance::parse(&string(v.get("importance"))).unwrap_or_default(),
        ack_required: boolean(v.get("ack_required")),
        thread_id: v
            .get("thread_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        created_ts: timestamp(v.get("created_ts")).unwrap_or_else(gaffer_core::time::zero_time),
        kind: string(v.get("kind")),
    })
}

/// The reply of `send_message`.
pub fn sent_message(v: &Value) -> Result<SentMessage, MailError> {
    let payload = v
        .get("deliveries")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(|d| d.get("payload"))
        .unwrap_or(v);
    let id = int(payload.get("id"))
        .ok_or_else(|| MailError::Protocol("send_message reply without a message id".into()))?;
    Ok(SentMessage {
        id,
        thread_id: payload
            .get("thread_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        count: int(v.get("count")).unwrap_or(1).max(0) as usize,
    })
}

/// An integer field, 0 when absent.
pub fn count(v: &Value, key: &str) -> usize {
    int(v.get(key)).unwrap_or(0).max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unwraps_every_shape() {
        let wrapped =
            json!({"content": [], "structuredContent": {"result": [1]}, "isError": false});
        assert_eq!(unwrap_tool_result("t", wrapped).unwrap(), json!([1]));
        let text = json!({"content": [{"type": "text", "text": "{\"a\":1}"}]});
        assert_eq!(unwrap_tool_result("t", text).unwrap(), json!({"a": 1}));
        let empty = json!({"content": []});
        assert_eq!(unwrap_tool_result("t", empty).unwrap(), json!([]));
        let err = json!({"isError": true, "content": [{"type": "text", "text": "Error calling tool 'fetch_inbox': Agent 'X' not found"}]});
        assert!(matches!(
            unwrap_tool_result("t", err),
            Err(MailError::NotFound(_))
        ));
        assert_eq!(list(json!({"result": [1, 2]})).unwrap().len(), 2);
    }

    #[test]
    fn maps_http_and_rpc_errors() {
        assert!(matches!(
            decode_response(401, "{}"),
            Err(MailError::Unauthorized(_))
        ));
        assert!(matches!(
            decode_response(503, ""),
            Err(MailError::Unavailable(_))
        ));
        assert!(matches!(
            decode_response(200, "{nope"),
            Err(MailError::Protocol(_))
        ));
        let e = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid request parameters"}}"#;
        assert!(matches!(
            decode_response(200, e),
            Err(MailError::Invalid(_))
        ));
    }

    #[test]
    fn lenient_fields() {
        let r = reservation(
            &json!({"id": 3, "agent_name": "A", "path_pattern": "x", "exclusive": 1,
            "expires_ts": "2026-11-28T19:09:20.118167"}),
        )
        .unwrap();
        assert!(r.exclusive);
        assert_eq!(r.agent_name, "A");
        let rr = reserve_result(
            &json!({"granted": [], "conflicts": [{"path": "a", "holders": ["B"]}]}),
            "A",
        )
        .unwrap();
        assert_eq!(rr.conflicts[0].holders[0].agent_name, "B");
    }
}
