//! A typed row as the text Lockstep keeps (portable: tested natively).

use lockstep::{HeldRow, SharedRow};
use serde::Serialize;

/// `value` as a row held as its JSON text (one `serde_json::to_string`, no
/// map built: the tab, the leader and SQLite keep that text), or why it is
/// not a JSON object.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn held_row<T: Serialize>(value: &T) -> Result<SharedRow, String> {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    HeldRow::from_json(text.into())
        .map(SharedRow::new)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::held_row;

    #[derive(serde::Serialize)]
    struct Todo {
        title: &'static str,
        done: bool,
    }

    #[test]
    fn a_row_is_held_as_the_text_serde_writes_and_anything_but_an_object_is_refused() {
        let row = held_row(&Todo {
            title: "one",
            done: false,
        })
        .unwrap();
        assert_eq!(row.text(), Some(r#"{"title":"one","done":false}"#));
        assert!(held_row(&"text").unwrap_err().contains("JSON object"));
        assert!(held_row(&vec![1, 2]).is_err());
    }
}
