//! Stored responses: any response id a client sends (in a path or `previous_response_id`) is
//! either in the id alphabet or never reaches the store, and never finds another caller's
//! response; any `input` items are normalized without a panic; any `input_items` query pages
//! within its limit or is refused.

use std::sync::Arc;

use llm_sidecar::api::responses::request::Input;
use llm_sidecar::api::responses::state::{ItemsQuery, Shelf, input_items, items_page, valid_id};
use llm_sidecar::auth::Identity;
use llm_sidecar::config::schema::ResponsesConfig;
use llm_sidecar::limits::memory::MemoryStore;
use llm_sidecar::limits::store::Store;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::json::value;
use crate::support::config;

/// Longest id tried: past the accepted bound.
const MAX_ID_CHARS: usize = 120;
/// Most input items tried in one request.
const MAX_ITEMS: usize = 8;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(config())]

    /// An accepted id holds only the id alphabet; whatever the id, a response kept by one caller
    /// is found by that caller under its own id only and never by another.
    #[test]
    fn ids_find_only_their_owners_responses(
        id in prop::string::string_regex(&format!(".{{0,{MAX_ID_CHARS}}}")).unwrap(),
        other in prop::string::string_regex("resp_[a-z0-9]{1,8}").unwrap(),
    ) {
        if valid_id(&id) {
            prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        }
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(None));
        let config = ResponsesConfig::default();
        let owner = Shelf::new(Arc::clone(&store), &Identity::Master, &config);
        let stranger = Shelf::new(Arc::clone(&store), &Identity::Anonymous, &config);
        owner.keep(&other, &[], b"{\"id\":1}");
        runtime().block_on(async {
            let found = owner.load(&id).await.unwrap().is_some();
            prop_assert_eq!(found, id == other);
            prop_assert!(stranger.load(&id).await.unwrap().is_none());
            prop_assert!(!stranger.delete(&id).await.unwrap());
            Ok(())
        })?;
    }

    /// Any items normalize without a panic; objects come out typed and with an id.
    #[test]
    fn any_input_items_normalize(items in prop::collection::vec(value(), 0..=MAX_ITEMS)) {
        let count = items.len();
        let normalized = input_items(Some(&Input::Items(items)));
        prop_assert_eq!(normalized.len(), count);
        for item in normalized.iter().filter(|i| i.is_object()) {
            prop_assert!(item.get("type").is_some() && item.get("id").is_some());
        }
    }

    /// A page holds at most `limit` items, all from the list, or the query is a 400.
    #[test]
    fn input_item_pages_stay_within_their_limit(
        count in 0usize..40,
        limit in prop::option::of(0usize..120),
        order in prop::option::of(prop_oneof![Just("asc"), Just("desc"), Just("sideways")]),
        after in prop::option::of(0usize..45),
    ) {
        let items: Vec<Value> = (0..count).map(|i| json!({"id": format!("i{i}")})).collect();
        let query = ItemsQuery {
            limit,
            order: order.map(str::to_owned),
            after: after.map(|i| format!("i{i}")),
        };
        match items_page(items, &query) {
            Ok(page) => {
                let data = page["data"].as_array().unwrap();
                prop_assert!(data.len() <= limit.unwrap_or(20));
                prop_assert!(data.len() <= count);
            }
            Err(error) => prop_assert_eq!(error.status().as_u16(), 400),
        }
    }
}
