//! The gemini wire format. (To be written: parse the request into a [`Turn`](crate::Turn), ask
//! [`State::decide`](crate::State::decide), render the [`Reply`](crate::Reply).)

use crate::{HttpRequest, HttpResponse, State};

/// Handles one request of this API.
pub fn handle(req: &HttpRequest, _state: &State) -> HttpResponse {
    HttpResponse::json(
        501,
        &serde_json::json!({"error": {"message": format!("gaffer-model-sim: gemini {} not built yet", req.path)}}),
    )
}
