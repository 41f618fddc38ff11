//! The HTTP API's per-second limits (`max_backend_events_per_second`,
//! `max_read_requests_per_second`): a request the app's budget cannot cover is refused whole
//! with 429 and `Retry-After: 1`, before it has any effect.

use super::error::ApiError;
use crate::hub::budget::BudgetKind;
use crate::hub::AppHub;
use crate::state::State;

/// Takes `amount` from the app's budget of `kind` (cluster-wide through the adapter), or
/// refuses the request. Costs one `Option` check when the app sets no limit.
pub async fn spend(state: &State, app: &AppHub, kind: BudgetKind, amount: usize) -> Result<(), ApiError> {
    let Some(budget) = app.budget(kind) else { return Ok(()) };
    if state.adapter.take_from_budget(app, kind, &budget, amount).await {
        return Ok(());
    }
    let limit = budget.per_second();
    Err(ApiError::too_many(match kind {
        BudgetKind::BackendEvents if amount > limit as usize => format!(
            "This request publishes {amount} events (one per channel), more than the {limit} per second the app allows (max_backend_events_per_second)"
        ),
        BudgetKind::BackendEvents => {
            format!("Rate limit: the app may publish {limit} events per second (one per channel; max_backend_events_per_second); retry later")
        }
        BudgetKind::ReadRequests => {
            format!("Rate limit: the app may make {limit} read requests per second (max_read_requests_per_second); retry later")
        }
    }))
}
