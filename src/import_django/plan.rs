//! What becomes of one Django user, decided without any database, by the API's own rules. A
//! bad profile value costs that value (with a warning); a bad address costs the user.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::source::DjangoUser;
use crate::auth::PlainToken;
use crate::auth::django_hash::{PBKDF2_SHA256_PREFIX, django_argon2_to_phc};
use crate::db::ImportedUser;
use crate::domain::{Bio, DateOfBirth, Email, Invalid, Name, PhoneNumber, PictureUrl};

/// A user the import leaves out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub id: i64,
    pub email: String,
    pub reason: String,
}

/// Something imported differently from how Django had it.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub id: i64,
    pub field: &'static str,
    pub reason: String,
}

/// A user ready to be written.
pub struct Planned {
    pub user: ImportedUser,
    /// Stored as created at the import: DRF tokens never expired, and ours should not die of
    /// the move itself.
    pub token: Option<[u8; 32]>,
    pub warnings: Vec<Warning>,
}

/// Addresses seen so far in this run (their keys), with the id that has each.
pub type SeenEmails = HashMap<String, i64>;

/// Decides what to do with `user`. `today` bounds dates of birth, as in the API.
pub fn plan_user(
    user: DjangoUser,
    today: NaiveDate,
    seen: &mut SeenEmails,
) -> Result<Planned, Skipped> {
    let skip = |reason: String| Skipped {
        id: user.id,
        email: user.email.clone(),
        reason,
    };
    let email = Email::parse_existing(&user.email)
        .map_err(|Invalid(m)| skip(format!("invalid email: {}", m.join(" "))))?;
    if let Some(first) = seen.get(email.key()) {
        return Err(skip(format!(
            "duplicate email: user {first} has the same address (addresses are unique \
             in their canonical form: whatever their case or Unicode spelling)"
        )));
    }
    seen.insert(email.key().to_owned(), user.id);

    let id = user.id;
    let mut warnings = Vec::new();
    let mut warn = |field: &'static str, reason: String| {
        warnings.push(Warning { id, field, reason });
    };
    let password_hash = password_hash(&user.password.0, &mut warn);
    let name = field(user.name, "name", &mut warn, |v| {
        Name::parse(v).map(|n| n.map(Name::into_inner))
    });
    let date_of_birth = field(user.date_of_birth, "date_of_birth", &mut warn, |v| {
        DateOfBirth::parse(v, today).map(|d| d.map(|d| d.date()))
    });
    let profile_picture = field(user.profile_picture, "profile_picture", &mut warn, |v| {
        PictureUrl::parse(v).map(|p| p.map(PictureUrl::into_inner))
    });
    let bio = field(user.bio, "bio", &mut warn, |v| {
        Bio::parse(v).map(|b| b.map(Bio::into_inner))
    });
    // Kept whatever it is: the original stored free text, and a number the app shows its
    // customer is theirs, even where no metadata knows it.
    let phone_number = user
        .phone_number
        .as_deref()
        .and_then(PhoneNumber::imported)
        .map(PhoneNumber::into_inner);
    let token = match user.token_key {
        None => None,
        Some(key) => match PlainToken::from_drf_key(&key.0) {
            Some(token) => Some(token.digest().to_array()),
            None => {
                warn(
                    "token",
                    "not a DRF key (40 lowercase hex characters): not imported".to_owned(),
                );
                None
            }
        },
    };
    Ok(Planned {
        user: ImportedUser {
            id,
            email,
            password_hash,
            is_superuser: user.is_superuser,
            is_staff: user.is_staff,
            is_active: user.is_active,
            date_joined: user.date_joined,
            name,
            date_of_birth,
            profile_picture,
            bio,
            phone_number,
        },
        token,
        warnings,
    })
}

/// The hash to store: PBKDF2 (upgraded at login) and unusable ones as they are, Argon2 as its
/// PHC string, any other kind as unusable, so the user resets the password.
fn password_hash(stored: &str, warn: &mut impl FnMut(&'static str, String)) -> String {
    if stored.starts_with(PBKDF2_SHA256_PREFIX) {
        return stored.to_owned();
    }
    if let Some(phc) = django_argon2_to_phc(stored) {
        return phc.to_owned();
    }
    if stored.starts_with('!') {
        warn(
            "password",
            "unusable password in Django: cannot log in until a password reset".to_owned(),
        );
        return stored.to_owned();
    }
    let kind = stored.split('$').next().unwrap_or_default();
    warn(
        "password",
        format!("unsupported hash kind {kind:?}: imported unusable, the user must reset it"),
    );
    "!".to_owned()
}

/// One optional profile value, parsed by its domain rules; an invalid one becomes `None`.
fn field<T>(
    raw: Option<String>,
    name: &'static str,
    warn: &mut impl FnMut(&'static str, String),
    parse: impl FnOnce(&str) -> Result<Option<T>, Invalid>,
) -> Option<T> {
    let raw = raw?;
    match parse(&raw) {
        Ok(value) => value,
        Err(Invalid(messages)) => {
            warn(name, format!("dropped: {}", messages.join(" ")));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_django::source::Secret;
    use chrono::Utc;

    fn user(id: i64, email: &str) -> DjangoUser {
        DjangoUser {
            id,
            email: email.to_owned(),
            password: Secret("md5$abc$def".to_owned()),
            is_superuser: false,
            is_staff: false,
            is_active: true,
            date_joined: Utc::now(),
            name: Some("  ".to_owned()),
            date_of_birth: Some("2999-01-01".to_owned()),
            profile_picture: None,
            bio: None,
            phone_number: Some("+44 20 7946 0958".to_owned()),
            token_key: Some(Secret("not-a-key".to_owned())),
        }
    }

    #[test]
    fn bad_values_are_dropped_with_warnings_and_duplicates_skipped() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut seen = SeenEmails::new();
        let planned = plan_user(user(1, "A@Example.com"), today, &mut seen).unwrap();
        assert_eq!(planned.user.email.as_str(), "A@example.com");
        assert_eq!(planned.user.password_hash, "!");
        assert_eq!(planned.user.name, None);
        assert_eq!(planned.user.date_of_birth, None);
        assert_eq!(
            planned.user.phone_number.as_deref(),
            Some("+44 20 7946 0958")
        );
        assert!(planned.token.is_none());
        let fields: Vec<_> = planned.warnings.iter().map(|w| w.field).collect();
        assert_eq!(fields, ["password", "date_of_birth", "token"]);
        let dup = plan_user(user(2, "a@EXAMPLE.com"), today, &mut seen)
            .err()
            .unwrap();
        assert!(dup.reason.contains("user 1"), "{}", dup.reason);
        let bad = plan_user(user(3, "nope"), today, &mut seen).err().unwrap();
        assert!(bad.reason.starts_with("invalid email"));
    }

    #[test]
    fn another_unicode_spelling_of_an_imported_address_is_a_duplicate() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut seen = SeenEmails::new();
        let first = plan_user(user(1, "a@xn--bcher-kva.example"), today, &mut seen).unwrap();
        assert_eq!(first.user.email.as_str(), "a@bücher.example");
        for (id, spelling) in [
            (2, "a@BU\u{308}CHER.example"),
            (3, "a@bü\u{AD}cher.example"),
        ] {
            let dup = plan_user(user(id, spelling), today, &mut seen)
                .err()
                .unwrap();
            assert!(dup.reason.contains("user 1"), "{}", dup.reason);
        }
    }
}
