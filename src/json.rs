//! The JSON the commands print (`--json`): its format version and the wrapper that adds it.
//!
//! Every command prints one of the library's own types, wrapped in [`Versioned`], so a
//! script (or a test) can read the output back into the same types. The format is
//! documented, field by field, in `docs/json.md`.

use serde::{Deserialize, Serialize};

/// The version of the `--json` format. Raised when a field changes meaning or goes away
/// (new fields may appear without it).
pub const FORMAT_VERSION: u32 = 1;

/// A JSON document (or, for commands that print a list, each element of the list): the
/// value's own fields with `format_version` beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub format_version: u32,
    #[serde(flatten)]
    pub value: T,
}

impl<T> Versioned<T> {
    /// The value, stamped with the current [`FORMAT_VERSION`].
    pub fn new(value: T) -> Versioned<T> {
        Versioned {
            format_version: FORMAT_VERSION,
            value,
        }
    }
}

/// Each element of a list, stamped with the current [`FORMAT_VERSION`].
pub fn versioned_list<T>(values: impl IntoIterator<Item = T>) -> Vec<Versioned<T>> {
    values.into_iter().map(Versioned::new).collect()
}

/// The pretty-printed JSON text of a value, with a final newline.
///
/// # Panics
/// Never for the library's types: they serialise to JSON without maps keyed by anything
/// but strings.
pub fn to_text<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("the library's types serialise");
    text.push('\n');
    text
}
