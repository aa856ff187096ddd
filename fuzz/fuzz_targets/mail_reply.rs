//! Agent Mail's replies as the MCP client reads them: an HTTP status and body through
//! `decode_response`, the `tools/call` and `resources/read` unwrapping, and every decoder of a
//! tool's result (messages, inbox, reservations, counts, health). Input: two bytes of status,
//! then the body. Nothing may panic; errors are typed.
#![no_main]

use gaffer_mail::wire;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn decoders(v: &Value) {
    let _ = wire::sent_message(v);
    let _ = wire::inbox_message(v);
    let _ = wire::reservation(v);
    let _ = wire::reserve_result(v, "BlueLake");
    let _ = wire::count(v, "released");
    let _ = wire::timestamp(v.get("created_ts"));
    let _ = wire::boolean(v.get("exclusive"));
    let _ = wire::from_value::<gaffer_core::mailbox::ProjectInfo>(v.clone());
    if let Ok(items) = wire::list(v.clone()) {
        for item in items.iter().take(16) {
            let _ = wire::inbox_message(item);
            let _ = wire::reservation(item);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = u16::from_be_bytes(*status) % 600;
    let body = String::from_utf8_lossy(body);
    let Ok(result) = wire::decode_response(status, &body) else {
        return;
    };
    if let Ok(v) = wire::unwrap_resource(result.clone()) {
        decoders(&v);
    }
    match wire::unwrap_tool_result("send_message", result) {
        Ok(v) => decoders(&v),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
