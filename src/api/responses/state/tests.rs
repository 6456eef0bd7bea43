use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::limits::memory::MemoryStore;

#[test]
fn ids_with_anything_but_the_id_alphabet_are_refused() {
    let cases = [
        ("resp_0123abcd", true),
        ("resp_A-b_9", true),
        ("", false),
        ("resp_x/../y", false),
        ("resp x", false),
        ("resp_é", false),
        ("resp_:owner", false),
    ];
    for (id, want) in cases {
        assert_eq!(valid_id(id), want, "{id:?}");
    }
    assert!(!valid_id(&"a".repeat(MAX_ID_BYTES + 1)));
}

#[test]
fn callers_of_every_kind_have_distinct_owners() {
    let owners = [
        owner(&Identity::Anonymous),
        owner(&Identity::Master),
        owner(&Identity::Peer {
            name: "master".into(),
            team: None,
        }),
    ];
    assert_eq!(owners, ["anonymous", "master", "peer:master"]);
}

#[test]
fn input_items_are_typed_with_ids_and_content_parts() {
    let text = input_items(Some(&Input::Text("hi".into())));
    assert_eq!(text.len(), 1);
    assert_eq!(text[0]["type"], "message");
    assert_eq!(
        text[0]["content"],
        json!([{"type": "input_text", "text": "hi"}])
    );
    assert!(
        text[0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("msg_"))
    );

    let items = input_items(Some(&Input::Items(vec![
        json!({"role": "assistant", "content": "earlier"}),
        json!({"type": "function_call_output", "call_id": "c1", "output": "42", "id": "keep"}),
        json!({"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"}),
    ])));
    let cases = [
        (0, "message", "msg_"),
        (1, "function_call_output", "keep"),
        (2, "function_call", "fc_"),
    ];
    for (i, kind, id) in cases {
        assert_eq!(items[i]["type"], kind, "{i}");
        assert!(items[i]["id"].as_str().unwrap().starts_with(id), "{i}");
    }
    assert_eq!(
        items[0]["content"],
        json!([{"type": "output_text", "text": "earlier", "annotations": []}])
    );
    assert!(input_items(None).is_empty());
}

fn items(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"id": format!("i{i}")})).collect()
}

fn ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

#[test]
fn input_item_pages_follow_order_limit_and_after() {
    let query = |limit, order: Option<&str>, after: Option<&str>| ItemsQuery {
        limit,
        order: order.map(str::to_owned),
        after: after.map(str::to_owned),
    };
    let cases: [(ItemsQuery, Vec<&str>, bool); 4] = [
        (
            query(None, None, None),
            vec!["i4", "i3", "i2", "i1", "i0"],
            false,
        ),
        (query(Some(2), Some("asc"), None), vec!["i0", "i1"], true),
        (
            query(Some(2), Some("asc"), Some("i1")),
            vec!["i2", "i3"],
            true,
        ),
        (query(Some(10), Some("desc"), Some("i1")), vec!["i0"], false),
    ];
    for (query, want, more) in cases {
        let page = items_page(items(5), &query).unwrap();
        assert_eq!(ids(&page), want, "{query:?}");
        assert_eq!(page["has_more"], more, "{query:?}");
        assert_eq!(page["object"], "list");
        assert_eq!(page["first_id"], want[0]);
        assert_eq!(page["last_id"], *want.last().unwrap());
    }
    for bad in [
        query(Some(0), None, None),
        query(Some(101), None, None),
        query(None, Some("up"), None),
        query(None, None, Some("nope")),
    ] {
        let error = items_page(items(5), &bad).unwrap_err();
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let empty = items_page(Vec::new(), &ItemsQuery::default()).unwrap();
    assert_eq!(empty["first_id"], Value::Null);
}

fn shelf(store: &Arc<MemoryStore>, identity: &Identity, config: &ResponsesConfig) -> Shelf {
    Shelf::new(Arc::clone(store) as Arc<dyn Store>, identity, config)
}

#[tokio::test]
async fn a_kept_response_is_found_by_its_owner_only_and_deleted_once() {
    let store = Arc::new(MemoryStore::new(None));
    let config = ResponsesConfig::default();
    let mine = shelf(&store, &Identity::Master, &config);
    let theirs = shelf(&store, &Identity::Anonymous, &config);
    let input = [json!({"type": "message", "role": "user", "content": "q"})];
    mine.keep(
        "resp_1",
        &input,
        br#"{"id":"resp_1","output":[{"type":"message"}]}"#,
    );

    let stored = mine.load("resp_1").await.unwrap().expect("kept at once");
    assert_eq!(stored.response["id"], "resp_1");
    assert_eq!(stored.conversation().len(), 2, "input, then output");
    assert!(theirs.load("resp_1").await.unwrap().is_none());
    assert!(!theirs.delete("resp_1").await.unwrap());
    assert!(mine.load("resp_../1").await.unwrap().is_none());

    assert!(mine.delete("resp_1").await.unwrap());
    assert!(!mine.delete("resp_1").await.unwrap());
    assert!(mine.load("resp_1").await.unwrap().is_none());
}

#[tokio::test]
async fn responses_over_the_size_bound_are_answered_but_not_kept() {
    let store = Arc::new(MemoryStore::new(None));
    let config = ResponsesConfig {
        max_response_bytes: 64,
        ..ResponsesConfig::default()
    };
    let small = shelf(&store, &Identity::Master, &config);
    small.keep("resp_big", &[], &[b' '; 100]);
    assert!(small.load("resp_big").await.unwrap().is_none());
    assert!(document(&[], b"{}", 64).is_some());
}

#[test]
fn not_found_names_the_id_and_the_parameter() {
    let error = not_found("resp_x", Some(PREVIOUS_RESPONSE_ID));
    assert_eq!(error.status(), http::StatusCode::NOT_FOUND);
    assert_eq!(error.param(), Some(PREVIOUS_RESPONSE_ID));
    assert_eq!(error.to_string(), "Response with id 'resp_x' not found.");
}
