//! Security notices by mail: a user is told when their password, address or second factors
//! change, and when someone signs in from a device the account has not used before. A notice
//! never holds up nor fails the request: it takes a place in the mail queue (or is dropped with
//! a warning when the queue is full) and the queue does the rest, the recipient's look-up too.

use crate::auth::Device;
use crate::db;
use crate::mail::{Mail, Notice, NoticeKind};
use crate::state::AppState;

/// Who is told.
#[derive(Debug, Clone)]
pub enum NoticeTo {
    /// The account's current address, looked up when the mail is made (none if it is gone).
    User(i64),
    /// This address (the old one, after an email change).
    Address(String),
}

/// Tells `to` that `kind` just happened from `device`; `detail` is the kind's own fact (a
/// passkey's name, the new address masked), never a secret.
pub fn send(
    state: &AppState,
    to: NoticeTo,
    kind: NoticeKind,
    device: &Device,
    detail: Option<String>,
) {
    let notice = Notice {
        kind,
        at: state.clock.now(),
        device: device.clone(),
        detail,
    };
    let Some(slot) = reserve(state, kind) else {
        return;
    };
    let state = state.clone();
    slot.prepare(async move {
        let address = match to {
            NoticeTo::Address(address) => Some(address),
            NoticeTo::User(id) => db::find_mail_target_by_id(&state.db, id)
                .await?
                .map(|t| t.email),
        };
        render(&state, address, &notice)
    });
}

/// After a sign-in of `user_id` (whose address is `email`) from `device`: the device is
/// remembered, and the user told when the account had not used it before.
pub fn signed_in(state: &AppState, user_id: i64, email: &str, device: &Device) {
    let Some(slot) = reserve(state, NoticeKind::NewDevice) else {
        return;
    };
    let notice = Notice {
        kind: NoticeKind::NewDevice,
        at: state.clock.now(),
        device: device.clone(),
        detail: None,
    };
    let (state, email) = (state.clone(), email.to_owned());
    slot.prepare(async move {
        let (family, network) = (notice.device.family(), notice.device.network());
        let device = db::DeviceKey {
            family: &family,
            network: &network,
        };
        let new = db::remember_device(&state.db, user_id, device, notice.at).await?;
        render(&state, new.then_some(email), &notice)
    });
}

fn reserve(state: &AppState, kind: NoticeKind) -> Option<crate::mail::MailSlot> {
    match state.mailer.reserve() {
        Ok(slot) => Some(slot),
        Err(_) => {
            tracing::warn!(
                kind = kind.as_str(),
                "mail queue full; security notice dropped"
            );
            None
        }
    }
}

fn render(
    state: &AppState,
    address: Option<String>,
    notice: &Notice,
) -> anyhow::Result<Option<Mail>> {
    let Some(address) = address else {
        return Ok(None);
    };
    let service = &state.config.mail.service_name;
    Ok(Some(Mail::notice(service, &address, notice)?))
}
