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

#[wasm_bindgen_test]
fn a_runtime_config_that_cannot_work_is_refused_before_anything_starts() {
    use lockstep::{ConfigError, RuntimeConfig};
    use lockstep_browser::{Database, LeaderWorker, OpenError, OpenOptions};
    let opened = Database::open(OpenOptions {
        app: "wasm-test".into(),
        scope: "bad-config".into(),
        // Never started: the configuration is checked first.
        worker: LeaderWorker::Url("/no-such-worker.js".into()),
        memory_only: true,
        config: RuntimeConfig {
            hydrate_page_rows: 0,
            ..RuntimeConfig::default()
        },
    });
    match opened {
        Err(OpenError::Config(error)) => {
            assert_eq!(
                error,
                ConfigError::RuntimeZero {
                    field: "hydrate_page_rows"
                }
            );
            assert!(error.to_string().contains("set it to at least 1"));
        }
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(_) => panic!("a page size of 0 must be refused"),
    }
}
