//! A profile change that may store a picture, in the order that keeps a failure harmless:
//! put the new picture, commit the change, then remove the picture it replaced. A store
//! failure changes nothing (`503`); a failed commit removes the new picture again; a failed
//! removal leaves an orphan in the store, logged by name, never a profile without its picture.

use axum::body::Bytes;

use crate::db::{self, PictureChange, ProfileChanges, UserRow};
use crate::error::ApiError;
use crate::state::AppState;

/// Applies `changes` and, when sent, the uploaded picture; `None` if the user is gone.
pub async fn change_profile(
    state: &AppState,
    user_id: i64,
    mut changes: ProfileChanges,
    upload: Option<Bytes>,
) -> Result<Option<UserRow>, ApiError> {
    let picture = match upload {
        // Decoding is the costly part: a client that hangs up while it waits costs nothing.
        Some(bytes) => Some(state.pictures.process(bytes).await?),
        None => None,
    };
    if !changes.profile_picture_touched() && picture.is_none() {
        return Ok(db::update_profile(&state.db, user_id, &changes)
            .await?
            .map(|u| u.user));
    }
    // From here on the steps run to the end even if the client hangs up or the deadline
    // passes: a stored picture must end up shown or removed, a replaced one removed.
    let state = state.clone();
    let steps = tokio::spawn(async move {
        let stored = match picture {
            Some(picture) => {
                let name = state.pictures.save(picture).await?;
                changes.profile_picture = PictureChange::Stored(name.clone());
                Some(name)
            }
            None => None,
        };
        let updated = match db::update_profile(&state.db, user_id, &changes).await {
            Ok(updated) => updated,
            Err(e) => {
                state.pictures.discard_any(stored.as_deref()).await;
                return Err(e.into());
            }
        };
        match updated {
            Some(updated) => {
                let replaced = updated.replaced_picture.as_deref();
                state.pictures.discard_any(replaced).await;
                Ok(Some(updated.user))
            }
            None => {
                state.pictures.discard_any(stored.as_deref()).await;
                Ok(None)
            }
        }
    });
    steps
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a profile change failed: {e}")))?
}
