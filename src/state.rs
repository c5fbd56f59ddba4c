//! The state every worker shares ([`AppState`]): made once by [`crate::startup`], read by every
//! handler through `web::Data<AppState>`. It sits low in the house: it names the shared services
//! (pool, keys, caches, writers) and imports no handler.

use std::sync::Arc;

use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::JwtKeys;
use crate::checks::index::CheckIndex;
use crate::checks::receipts::ReceiptWriter;
use crate::config::Settings;
use crate::db::Pool;
use crate::metrics::Metrics;
use crate::pii::PiiCipher;

/// Shared by every worker.
pub struct AppState {
    pub pool: Pool,
    pub keys: JwtKeys,
    pub throttle: LoginThrottle,
    /// Encrypts and hashes personal ID numbers for storage (see [`crate::pii`]).
    pub pii: PiiCipher,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    /// Group-commits check receipts (核查记录); see [`crate::checks::receipts`].
    pub receipts: ReceiptWriter,
    /// The receipt signing keys: checkpoints of the receipt log, the published key set; see
    /// [`crate::checks::signing`].
    pub receipt_keys: Arc<crate::checks::signing::ReceiptKeys>,
    /// The in-memory index credit checks answer from; `None` when disabled by configuration.
    pub check_index: Option<Arc<CheckIndex>>,
    /// Recently read sessions; see [`crate::auth::session_cache::SessionCache`].
    pub sessions: crate::auth::session_cache::SessionCache,
    /// Upload slots: spreadsheets read at once (see [`crate::tabular::UploadGate`]).
    pub uploads: crate::tabular::UploadGate,
}
