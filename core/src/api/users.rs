//! Users: `GET /v2/find_user`, `GET /v2/users[/{id}]` and `PUT /v2/users/{id}`.
//!
//! What a body contains depends on who asks (public, self, moderator), so
//! every field beyond the identity and balance is optional and skipped when
//! absent.

use serde::{Deserialize, Serialize};

use super::ids::{SharedKeyId, UserId, WorkerId};
use super::lenient::untouched_zero;

/// Where a user's kudos came from and went to. Upstream sends every key,
/// as the integer `0` while untouched and a float once it moved; so do we.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserKudosDetails {
    /// Earned by generating, minus spent on requests.
    #[serde(serialize_with = "untouched_zero")]
    pub accumulated: f64,
    /// Given to other users.
    #[serde(serialize_with = "untouched_zero")]
    pub gifted: f64,
    /// Given to public-goods accounts such as education.
    #[serde(serialize_with = "untouched_zero")]
    pub donated: f64,
    /// Granted by admins.
    #[serde(serialize_with = "untouched_zero")]
    pub admin: f64,
    /// Received from other users.
    #[serde(serialize_with = "untouched_zero")]
    pub received: f64,
    /// From recurring grants.
    #[serde(serialize_with = "untouched_zero")]
    pub recurring: f64,
    /// Awarded (for example for ratings).
    #[serde(serialize_with = "untouched_zero")]
    pub awarded: f64,
    /// Earned from styles.
    #[serde(serialize_with = "untouched_zero")]
    pub styled: f64,
}

/// Megapixelsteps and tokens generated or requested.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserThingRecords {
    /// Megapixelsteps.
    #[serde(serialize_with = "untouched_zero")]
    pub megapixelsteps: f64,
    /// Tokens.
    pub tokens: u64,
}

/// Counts of images, texts and interrogations generated or requested.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserAmountRecords {
    /// Images.
    pub image: u64,
    /// Texts.
    pub text: u64,
    /// Interrogation forms.
    pub interrogation: u64,
}

/// A user's usage and contribution records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserRecords {
    /// What the user requested.
    pub usage: UserThingRecords,
    /// What the user's workers generated.
    pub contribution: UserThingRecords,
    /// Jobs the user's workers fulfilled.
    pub fulfillment: UserAmountRecords,
    /// Jobs the user requested.
    pub request: UserAmountRecords,
    /// Uses of the user's styles.
    pub style: UserAmountRecords,
}

/// The obsolete `usage` summary upstream still sends in every user body,
/// its members `null` (the numbers moved to [`UserRecords`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageDetails {
    /// Megapixelsteps requested.
    pub megapixelsteps: Option<f64>,
    /// Requests made.
    pub requests: Option<u64>,
}

/// The obsolete `contributions` summary, as [`UsageDetails`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContributionsDetails {
    /// Megapixelsteps generated.
    pub megapixelsteps: Option<f64>,
    /// Jobs fulfilled.
    pub fulfillments: Option<u64>,
}

/// A user's monthly kudos grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonthlyKudos {
    /// Kudos granted each month (absent in upstream's user list, which
    /// sends `{}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// When it was last granted (RFC 822).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_received: Option<String>,
}

/// A user as the users endpoints and `find_user` return it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserDetails {
    /// `alias#id`.
    pub username: String,
    /// The numeric id.
    pub id: UserId,
    /// The balance, which is also the user's queue priority.
    pub kudos: f64,
    /// Where the kudos came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kudos_details: Option<UserKudosDetails>,
    /// (Privileged) kudos held in escrow until the user is trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluating_kudos: Option<f64>,
    /// Requests (jobs) the user may have in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// How many workers the user may add in invite-only mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_invited: Option<u32>,
    /// Moderator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderator: Option<bool>,
    /// Trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    /// (Privileged) flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged: Option<bool>,
    /// (Privileged) may run workers behind a VPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn: Option<bool>,
    /// A service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<bool>,
    /// An education account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub education: Option<bool>,
    /// May serve custom image models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customizer: Option<bool>,
    /// (Privileged) special user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special: Option<bool>,
    /// Deleted (disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// (Privileged) suspicion score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicious: Option<u32>,
    /// Registered without OAuth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonymous: Option<bool>,
    /// (Privileged) contact details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// (Privileged) admin comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_comment: Option<String>,
    /// Seconds since the account was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_age: Option<u64>,
    /// Workers the user has created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_count: Option<u32>,
    /// The user's worker ids (privileged, or public when the user allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_ids: Option<Vec<WorkerId>>,
    /// (Privileged) the user's shared key ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharedkey_ids: Option<Vec<SharedKeyId>>,
    /// (Privileged) monthly kudos grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_kudos: Option<MonthlyKudos>,
    /// Usage and contribution records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<UserRecords>,
    /// (Privileged) requests in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_generations: Option<serde_json::Value>,
    /// Styles the user owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub styles: Option<Vec<serde_json::Value>>,
    /// (Privileged) the key of the user's proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_passkey: Option<String>,
    /// Obsolete usage summary (members `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageDetails>,
    /// Obsolete contributions summary (members `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contributions: Option<ContributionsDetails>,
}

/// `PUT /v2/users/{id}`: what an admin, moderator or the owner changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModifyUserRequest {
    /// (Admin) kudos to add (may be negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kudos: Option<f64>,
    /// (Mod) concurrency, 0–500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// (Admin) kudos consumption multiplier, 0.1–10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_multiplier: Option<f64>,
    /// (Mod) workers the user may add in invite-only mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_invited: Option<u32>,
    /// (Admin) moderator role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderator: Option<bool>,
    /// (Owner) show worker ids publicly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_workers: Option<bool>,
    /// (Admin) monthly kudos grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_kudos: Option<i64>,
    /// (Owner) new alias, at most 30 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// (Mod) trusted role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    /// (Mod) flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged: Option<bool>,
    /// (Mod) customizer role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customizer: Option<bool>,
    /// (Mod) VPN role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn: Option<bool>,
    /// (Mod) service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<bool>,
    /// (Mod) education account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub education: Option<bool>,
    /// (Mod) special role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special: Option<bool>,
    /// (Mod) always apply the replacement filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filtered: Option<bool>,
    /// (Mod) reset suspicion to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_suspicion: Option<bool>,
    /// (Owner) contact details, 5–500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// (Mod) admin comment, 5–500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_comment: Option<String>,
    /// (Owner or mod) undelete the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undelete: Option<bool>,
}

/// The answer to `PUT /v2/users/{id}`: the fields that changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModifyUserResponse {
    /// The balance after a kudos change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_kudos: Option<f64>,
    /// New concurrency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// New usage multiplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_multiplier: Option<f64>,
    /// New invite count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_invited: Option<u32>,
    /// New moderator status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderator: Option<bool>,
    /// New public_workers status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_workers: Option<bool>,
    /// New `alias#id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// New monthly grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_kudos: Option<i64>,
    /// New trusted status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    /// New flagged status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flagged: Option<bool>,
    /// New customizer status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customizer: Option<bool>,
    /// New vpn status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn: Option<bool>,
    /// New service status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<bool>,
    /// New education status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub education: Option<bool>,
    /// New special status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special: Option<bool>,
    /// New suspicion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_suspicion: Option<u32>,
    /// New contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// New admin comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_comment: Option<String>,
    /// New deleted status after an undelete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeleted: Option<bool>,
}

string_enum! {
    /// How `GET /v2/users` sorts.
    pub enum UserSort / Other {
        /// By balance, highest first.
        Kudos => "kudos",
        /// By account age, oldest first.
        Age => "age",
    }
}

/// The query of `GET /v2/users` (25 users per page).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersQuery {
    /// 1-based page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Sort order (default kudos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<UserSort>,
}
