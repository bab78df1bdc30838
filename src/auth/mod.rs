//! Who is calling: opaque tokens and the `Authorization` header, password hashing kept off the
//! async executor, the [`AuthUser`] extractor that guards every private route, and the clock.

mod clock;
mod extractor;
mod hashing;
mod token;

pub use clock::{Clock, SystemClock};
pub use extractor::AuthUser;
pub use hashing::{Argon2Hasher, Hashing, PasswordHasher};
pub use token::{PlainToken, TokenDigest, parse_authorization};
