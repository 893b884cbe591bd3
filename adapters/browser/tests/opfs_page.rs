//! On a real page's main thread OPFS sync access handles do not exist: the
//! store falls back to memory and says so, loudly and precisely.
#![cfg(target_arch = "wasm32")]

use lockstep::DatabaseId;
use lockstep_browser::opfs::{self, Opened};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn without_opfs_the_store_falls_back_to_memory_with_a_clear_warning() {
    let db = DatabaseId::new("wasm-test", "main-thread").unwrap();
    match opfs::open(&db, false).await {
        Ok(Opened::MemoryOnly(_, why)) => {
            assert!(why.contains("OPFS is unavailable"), "{why}");
            assert!(why.contains("in memory only"), "{why}");
        }
        Ok(Opened::Durable(..)) => panic!("OPFS sync handles should not exist on the main thread"),
        Err(_) => panic!("the fallback must open"),
    }
}
