//! Conversation messages and their content: roles, plain-text or multi-part content, and the
//! part types (text, image, audio, file, refusal).

#![allow(
    missing_docs,
    reason = "wire types mirror OpenAI's documented JSON field for field: a doc that restates a field's name says nothing"
)]

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ToolCall;

/// Message roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System instructions.
    System,
    /// Developer instructions (newer name for system).
    Developer,
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
    /// A legacy function result.
    Function,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said (null for an assistant turn that only calls tools).
    #[serde(default)]
    pub content: Option<Content>,
    /// Participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls of an assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    /// The text of the content: a string, or the text parts joined.
    pub fn text_content(&self) -> String {
        self.content
            .as_ref()
            .map(Content::joined_text)
            .unwrap_or_default()
    }
}

/// Message content: a string or typed parts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text, images, audio, files.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// All text in the content, parts joined with newlines.
    pub fn joined_text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The content as parts (a string becomes one text part).
    pub fn parts(&self) -> Vec<ContentPart> {
        match self {
            Self::Text(t) => vec![ContentPart::text(t.clone())],
            Self::Parts(parts) => parts.clone(),
        }
    }
}

/// One part of message content.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
        /// Prompt-caching marker (Anthropic's `cache_control`, which LiteLLM's OpenAI-format
        /// clients also send): the prompt up to and including this part may be cached by an
        /// upstream that caches (Anthropic, Bedrock's `cachePoint`); others ignore it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// An image by URL or data URL.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
    },
    /// Base64 audio.
    InputAudio {
        /// `{data, format}`.
        input_audio: Value,
    },
    /// A file by id or data.
    File {
        /// `{file_id | file_data, filename}`.
        file: Value,
    },
    /// An assistant refusal.
    Refusal {
        /// The refusal text.
        refusal: String,
    },
}

impl ContentPart {
    /// A text part without a cache marker.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            cache_control: None,
        }
    }
}

/// `image_url` of an image part.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImageUrl {
    /// `https://…` or `data:<mime>;base64,<data>`.
    pub url: String,
    /// `auto`, `low`, `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_helpers() {
        let parts = Content::Parts(vec![
            ContentPart::text("a"),
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "https://x".into(),
                    detail: None,
                },
            },
            ContentPart::text("b"),
        ]);
        assert_eq!(parts.joined_text(), "a\nb");
        assert_eq!(Content::Text("t".into()).parts().len(), 1);
    }
}
