//! Conversation state of the Responses requests the gateway translates: which stored responses
//! belong to whom ([`Shelf`]), what is stored for one ([`Stored`]: the response as the client
//! got it, and every input item the model saw, earlier turns included), and how a request with
//! `previous_response_id` gets its earlier turns back.
//!
//! Responses live in the limits store as documents (in memory, bounded by `responses.max_bytes`
//! with the oldest evicted first; in Redis when `store.url` is set, so every replica can continue
//! a conversation), under a key made of the response id *and* the caller: a key, a Unix-socket
//! peer or the master key reads only what it made, and an id made by someone else is simply not
//! found. Ids are checked against a strict alphabet before they go into a key.

use std::sync::Arc;
use std::task::{Context, Waker};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::request::Input;
use super::response;
use crate::auth::Identity;
use crate::config::schema::ResponsesConfig;
use crate::error::GatewayError;
use crate::limits::store::{DocLimits, Store};

/// Longest response id accepted (ours are 37 characters; OpenAI's about 50).
const MAX_ID_BYTES: usize = 96;
/// The `previous_response_id` parameter, named in its errors.
pub const PREVIOUS_RESPONSE_ID: &str = "previous_response_id";

/// What is kept for one response.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    /// Every input item the model saw for this response, earlier turns first, each with an id.
    pub input: Vec<Value>,
    /// The response object as the client got it.
    pub response: Value,
}

impl Stored {
    /// The conversation a response continuing this one starts from: its input, then its output.
    pub fn conversation(self) -> Vec<Value> {
        let mut items = self.input;
        if let Some(Value::Array(output)) = self.response.get("output").cloned() {
            items.extend(output);
        }
        items
    }
}

/// Whether `id` can be a response id: ASCII letters, digits, `_` and `-`, bounded. Anything
/// else is not found without touching the store.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whose responses a caller sees (distinct prefixes: a key named `master` is not the master).
pub fn owner(identity: &Identity) -> String {
    match identity {
        Identity::Anonymous => "anonymous".to_owned(),
        Identity::Master => "master".to_owned(),
        Identity::Key(key) => format!("key:{}", key.name),
        Identity::Peer { name, .. } => format!("peer:{name}"),
    }
}

/// The 404 for a response that is not there (or not the caller's: the same answer, so ids of
/// others cannot be probed).
pub fn not_found(id: &str, param: Option<&str>) -> GatewayError {
    let shown: String = id.chars().take(MAX_ID_BYTES).collect();
    GatewayError::NotFound {
        message: format!("Response with id '{shown}' not found."),
        param: param.map(str::to_owned),
    }
}

/// One caller's stored responses.
#[derive(Clone)]
pub struct Shelf {
    store: Arc<dyn Store>,
    owner: String,
    limits: DocLimits,
    max_response_bytes: usize,
    enabled: bool,
}

impl std::fmt::Debug for Shelf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shelf")
            .field("owner", &self.owner)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Shelf {
    /// `identity`'s responses in `store`, kept as `config` says.
    pub fn new(store: Arc<dyn Store>, identity: &Identity, config: &ResponsesConfig) -> Self {
        Self {
            store,
            owner: owner(identity),
            limits: DocLimits {
                ttl: config.ttl,
                max_bytes: config.max_bytes,
            },
            max_response_bytes: usize::try_from(config.max_response_bytes).unwrap_or(usize::MAX),
            enabled: config.store,
        }
    }

    /// Whether responses are stored at all (`responses.store`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn key(&self, id: &str) -> String {
        format!("responses/{id}/{}", self.owner)
    }

    /// The caller's stored response `id`, if there is one.
    pub async fn load(&self, id: &str) -> Result<Option<Stored>, GatewayError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let Some(bytes) = self
            .store
            .doc_get(&self.key(id))
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(stored) => Ok(Some(stored)),
            Err(e) => {
                // Written by another version, or damaged: not something the caller can fix.
                tracing::warn!(error = %e, "ignoring an unreadable stored response");
                Ok(None)
            }
        }
    }

    /// Deletes the caller's stored response `id`; whether there was one.
    pub async fn delete(&self, id: &str) -> Result<bool, GatewayError> {
        if !valid_id(id) {
            return Ok(false);
        }
        self.store
            .doc_delete(&self.key(id))
            .await
            .map_err(unavailable)
    }

    /// Keeps `response` (serialized) with the `input` the model saw. Done before this call
    /// returns when the store answers at once (memory), so the client's next request finds
    /// it; else in the background. A response over `responses.max_response_bytes` is not kept.
    pub fn keep(&self, id: &str, input: &[Value], response: &[u8]) {
        let Some(doc) = document(input, response, self.max_response_bytes) else {
            tracing::warn!(
                limit = self.max_response_bytes,
                "a response is too large to store; previous_response_id will not find it"
            );
            return;
        };
        let (store, key, limits) = (Arc::clone(&self.store), self.key(id), self.limits);
        let write = async move {
            match store.doc_put(&key, doc, limits).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("a response is larger than responses.max_bytes"),
                Err(e) => tracing::warn!(error = %e, "cannot store a response"),
            }
        };
        let mut write = Box::pin(write);
        let mut context = Context::from_waker(Waker::noop());
        if write.as_mut().poll(&mut context).is_pending() {
            tokio::spawn(write);
        }
    }
}

/// The stored document for `response` and its `input`, unless it exceeds `max_bytes`.
fn document(input: &[Value], response: &[u8], max_bytes: usize) -> Option<Bytes> {
    let input = serde_json::to_vec(input).ok()?;
    let len = input.len() + response.len() + r#"{"input":,"response":}"#.len();
    if len > max_bytes {
        return None;
    }
    let mut doc = Vec::with_capacity(len);
    doc.extend_from_slice(br#"{"input":"#);
    doc.extend_from_slice(&input);
    doc.extend_from_slice(br#","response":"#);
    doc.extend_from_slice(response);
    doc.push(b'}');
    Some(Bytes::from(doc))
}

fn unavailable(error: crate::limits::store::StoreError) -> GatewayError {
    GatewayError::Unavailable {
        message: format!("Stored responses cannot be reached: {error}"),
        retry_after: None,
    }
}

/// `input` as items in the form `input_items` lists them: every item typed and with an id,
/// message text as content parts.
pub fn input_items(input: Option<&Input>) -> Vec<Value> {
    let items = match input {
        None => return Vec::new(),
        Some(Input::Text(text)) => vec![serde_json::json!({
            "type": "message",
            "role": "user",
            "content": text,
        })],
        Some(Input::Items(items)) => items.clone(),
    };
    items.into_iter().map(normalize).collect()
}

/// One input item, typed, with an id and message content as parts.
fn normalize(item: Value) -> Value {
    let Value::Object(mut item) = item else {
        return item;
    };
    let kind = item
        .entry("type")
        .or_insert_with(|| Value::from("message"))
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !item.contains_key("id") {
        item.insert("id".to_owned(), Value::from(item_id(&kind)));
    }
    if kind == "message"
        && let Some(Value::String(text)) = item.get("content")
    {
        let part = if item.get("role").and_then(Value::as_str) == Some(response::ASSISTANT) {
            serde_json::json!({"type": "output_text", "text": text, "annotations": []})
        } else {
            serde_json::json!({"type": "input_text", "text": text})
        };
        item.insert("content".to_owned(), Value::Array(vec![part]));
    }
    Value::Object(item)
}

/// A fresh id for an input item of type `kind`.
fn item_id(kind: &str) -> String {
    match kind {
        "message" => response::message_id(),
        "function_call" => response::call_item_id(),
        "reasoning" => response::reasoning_id(),
        _ => response::item_id(),
    }
}

/// `GET /v1/responses/{id}/input_items` query: `limit` (1–100, default 20), `order`
/// (`desc` by default, as OpenAI), `after` (an item id).
#[derive(Debug, Default, Deserialize)]
pub struct ItemsQuery {
    /// Items per page.
    pub limit: Option<usize>,
    /// `asc` or `desc`.
    pub order: Option<String>,
    /// List from after this item id.
    pub after: Option<String>,
}

/// Most input items one page lists (OpenAI's bound).
const MAX_PAGE: usize = 100;
/// Input items per page when the client names no `limit`.
const DEFAULT_PAGE: usize = 20;

/// One page of `items` as OpenAI's list object.
pub fn items_page(items: Vec<Value>, query: &ItemsQuery) -> Result<Value, GatewayError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(GatewayError::invalid(
            format!("Invalid 'limit': expected an integer from 1 to {MAX_PAGE}."),
            Some("limit"),
        ));
    }
    let mut items = items;
    match query.order.as_deref() {
        None | Some("desc") => items.reverse(),
        Some("asc") => {}
        Some(_) => {
            return Err(GatewayError::invalid(
                "Invalid 'order': expected 'asc' or 'desc'.",
                Some("order"),
            ));
        }
    }
    let start = match &query.after {
        None => 0,
        Some(after) => {
            items
                .iter()
                .position(|item| item.get("id").and_then(Value::as_str) == Some(after))
                .ok_or_else(|| {
                    GatewayError::invalid("Invalid 'after': no such item.", Some("after"))
                })?
                + 1
        }
    };
    let rest = items.len().saturating_sub(start);
    let page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let id_of = |item: Option<&Value>| item.and_then(|i| i.get("id")).cloned();
    let mut list = Map::new();
    list.insert("object".to_owned(), Value::from("list"));
    list.insert(
        "first_id".to_owned(),
        id_of(page.first()).unwrap_or(Value::Null),
    );
    list.insert(
        "last_id".to_owned(),
        id_of(page.last()).unwrap_or(Value::Null),
    );
    list.insert("has_more".to_owned(), Value::from(rest > page.len()));
    list.insert("data".to_owned(), Value::Array(page));
    Ok(Value::Object(list))
}

#[cfg(test)]
mod tests;
