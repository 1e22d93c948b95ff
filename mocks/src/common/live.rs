//! The live state every mock shares: settings changeable at runtime, counters, and the
//! per-fingerprint occurrence counts that key each request's own RNG.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::stats::{Stats, StatsSnapshot};

/// Settings a mock can change at runtime through `POST /__admin/faults`.
pub trait LiveSettings: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The seed that makes a run reproducible.
    fn seed(&self) -> u64;
    /// Rejects values no mock can honour (rates outside 0..1 and the like).
    fn validate(&self) -> Result<(), String>;
}

/// Runtime state of one mock server.
pub struct Live<T> {
    settings: RwLock<T>,
    /// Exact counters, shared with the accept loop.
    pub stats: Arc<Stats>,
    requests: AtomicU64,
    occurrences: Mutex<HashMap<u64, u64>>,
    on_reset: Box<dyn Fn() + Send + Sync>,
}

impl<T: LiveSettings> Live<T> {
    /// Builds the state; `on_reset` clears mock-specific state on `POST /__admin/reset`.
    pub fn new(settings: T, on_reset: Box<dyn Fn() + Send + Sync>) -> Self {
        Live {
            settings: RwLock::new(settings),
            stats: Arc::default(),
            requests: AtomicU64::new(0),
            occurrences: Mutex::default(),
            on_reset,
        }
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> T {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times a request with this fingerprint has come since start or the last reset
    /// (1-based): with the seed and the fingerprint, the key of the request's own RNG, so
    /// identical requests get distinct draws and concurrent runs replay.
    pub fn next_occurrence(&self, fingerprint: u64) -> u64 {
        let mut map = self.occurrences.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(fingerprint).or_insert(0);
        *n += 1;
        *n
    }

    /// A request number, 1-based since start or the last reset, for deterministic request ids.
    pub fn next_request_number(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Applies a partial JSON update (flat keys, as in the settings); returns the new settings.
    pub fn patch(&self, patch: &serde_json::Value) -> Result<T, String> {
        let serde_json::Value::Object(patch) = patch else {
            return Err("body must be a JSON object of settings".into());
        };
        if let Some(key) = patch
            .keys()
            .find(|k| matches!(k.as_str(), "seed" | "host" | "port"))
        {
            return Err(format!(
                "{key} is fixed at start and cannot be changed at runtime"
            ));
        }
        let mut guard = self.settings.write().unwrap_or_else(|e| e.into_inner());
        let updated = merge(&*guard, patch)?;
        *guard = updated.clone();
        Ok(updated)
    }

    /// Zeroes counters, request numbers and occurrence counts (so a run replays), clears
    /// mock-specific state.
    pub fn reset(&self) {
        self.stats.reset();
        self.requests.store(0, Ordering::SeqCst);
        self.occurrences
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        (self.on_reset)();
    }
}

/// `base` with the flat `overrides` applied; unknown keys and invalid values are errors that
/// name the setting.
pub fn merge<T: LiveSettings>(
    base: &T,
    overrides: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, String> {
    let mut current = serde_json::to_value(base).map_err(|e| e.to_string())?;
    let fields = current
        .as_object_mut()
        .ok_or_else(|| "settings are not an object".to_string())?;
    for (key, value) in overrides {
        if !fields.contains_key(key) {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown setting {key:?}; known: {}",
                known.join(", ")
            ));
        }
        let previous = fields.insert(key.clone(), value.clone());
        // Try each key alone so the error names the setting that is wrong.
        if let Err(e) = serde_json::from_value::<T>(serde_json::Value::Object(fields.clone())) {
            let _ = previous;
            return Err(format!("{key}: {e}"));
        }
    }
    let updated: T =
        serde_json::from_value(current).map_err(|e| format!("invalid setting: {e}"))?;
    updated.validate()?;
    Ok(updated)
}

/// What a [`crate::MockHandle`] needs from a mock, whatever its settings type.
pub trait Control: Send + Sync {
    /// Current counters.
    fn stats(&self) -> StatsSnapshot;
    /// Same as `POST /__admin/reset`.
    fn reset(&self);
}

impl<T: LiveSettings> Control for Live<T> {
    fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    fn reset(&self) {
        Live::reset(self)
    }
}
