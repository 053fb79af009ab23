//! The user's choice of items, shared by every command that takes items.

use super::{Kind, Source};

/// Plain selection options (the CLI's flags, already parsed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub sources: Vec<Source>,
    pub albums: Vec<String>,
    pub kinds: Vec<Kind>,
    pub since: Option<chrono::NaiveDate>,
    pub until: Option<chrono::NaiveDate>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub ids: Vec<String>,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
}
