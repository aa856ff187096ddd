//! Personas: named agent profiles whose tags and focus patterns steer assignment.

use serde::{Deserialize, Serialize};

/// An agent profile. `tags` say what it is good at; `focus_patterns` are globs of files it owns.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Persona {
    /// Unique name, e.g. `backend-reviewer`.
    pub name: String,
    /// One-line description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Agent type code this persona runs on (`cc`, `cod`, `gmi`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_type: String,
    /// Model alias, e.g. `opus`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// System prompt given at spawn.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system_prompt: String,
    /// Sampling temperature, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Globs of files loaded as context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_files: Vec<String>,
    /// Capability tags, e.g. `testing`, `documentation`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Globs of files this persona owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub focus_patterns: Vec<String>,
    /// Parent persona this one extends.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub extends: String,
    /// Text appended to the parent's system prompt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system_prompt_append: String,
}
