//! Balance rules: the floor each kind of account may fall to, what is
//! available to spend, how a worker's reward is split with escrow, and the
//! uptime rewards workers earn for staying online.

use super::round2;

/// The kind of account, which sets its balance floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// The shared anonymous account (key `0000000000`).
    Anonymous,
    /// A pseudonymous account (registered without OAuth).
    Pseudonymous,
    /// A registered account (OAuth upstream; created by an operator here).
    Registered,
}

/// Floor of a registered account.
pub const REGISTERED_FLOOR: f64 = 25.0;
/// Floor of a pseudonymous account.
pub const PSEUDONYMOUS_FLOOR: f64 = 14.0;
/// Floor of the anonymous account.
pub const ANONYMOUS_FLOOR: f64 = -50.0;

/// Largest magnitude of any amount the ledger stores: a balance, escrow, an
/// admin change, a starting balance (one trillion kudos). Far above anything
/// earned or spent, low enough that cents stay exact in an `f64` and no sum
/// of such amounts overflows. A change that would leave an amount outside it
/// is refused.
pub const MAX_LEDGER_KUDOS: f64 = 1e12;

/// Whether `x` is an amount the ledger may store (finite, within
/// ±[`MAX_LEDGER_KUDOS`]).
pub fn is_ledger_amount(x: f64) -> bool {
    x.is_finite() && x.abs() <= MAX_LEDGER_KUDOS
}

/// The balance an account's spendable kudos are counted from (upstream
/// `get_min_kudos`). Debits below it are forgiven, so balances never go
/// meaningfully negative and generation is always possible.
pub fn min_kudos(kind: AccountKind) -> f64 {
    match kind {
        AccountKind::Anonymous => ANONYMOUS_FLOOR,
        AccountKind::Pseudonymous => PSEUDONYMOUS_FLOOR,
        AccountKind::Registered => REGISTERED_FLOOR,
    }
}

/// Kudos an account can commit now: balance − floor − reservations held for
/// upfront requests − debits not yet applied. Never below zero.
pub fn available_kudos(balance: f64, floor: f64, holds: f64, pending_debits: f64) -> f64 {
    (balance - floor - holds - pending_debits).max(0.0)
}

/// A balance after a movement, as upstream moves every balance (credit or
/// debit): never below the floor. What lifting it to the floor created is
/// `floor_grant` (upstream books it as a floor adjustment).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settled {
    /// The new balance.
    pub balance: f64,
    /// Kudos the floor added (0 when the balance stayed above it).
    pub floor_grant: f64,
}

/// Moves `balance` by `delta` (negative for a debit): the result is
/// `max(balance + delta, floor)`, so a debit is forgiven below the floor and
/// a credit to a balance below the floor lifts it to the floor.
pub fn settle(balance: f64, delta: f64, floor: f64) -> Settled {
    let after = balance + delta;
    if after < floor {
        Settled {
            balance: floor,
            floor_grant: floor - after,
        }
    } else {
        Settled {
            balance: after,
            floor_grant: 0.0,
        }
    }
}

/// How a worker's reward is credited to its owner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RewardSplit {
    /// Spendable at once.
    pub spendable: f64,
    /// Held in `evaluating_kudos` until the owner becomes trusted.
    pub escrow: f64,
}

/// Splits a job reward: trusted owners get it all; untrusted owners get half
/// now and half into escrow.
pub fn split_job_reward(reward: f64, owner_trusted: bool) -> RewardSplit {
    if owner_trusted {
        RewardSplit {
            spendable: reward,
            escrow: 0.0,
        }
    } else {
        let half = round2(reward / 2.0);
        RewardSplit {
            spendable: half,
            escrow: round2(reward - half),
        }
    }
}

/// Seconds of online time per uptime reward.
pub const UPTIME_INTERVAL_SECS: u64 = 600;
/// Base uptime reward of an image worker.
pub const IMAGE_UPTIME_BASE: f64 = 50.0;
/// Extra uptime reward per model served.
pub const IMAGE_UPTIME_PER_MODEL: f64 = 2.0;
/// Extra uptime reward when LoRAs are allowed.
pub const IMAGE_UPTIME_LORA: f64 = 30.0;
/// Uptime reward of an alchemist.
pub const ALCHEMIST_UPTIME: f64 = 40.0;
/// Base uptime reward of a text worker.
pub const TEXT_UPTIME_BASE: f64 = 25.0;
/// Text uptime per 1024 context tokens.
pub const TEXT_UPTIME_PER_KCTX: f64 = 15.0;
/// Context tokens beyond which text uptime stops growing.
pub const TEXT_UPTIME_MAX_CONTEXT: u32 = 262_144;
/// Text uptime factor for models of unknown size.
pub const TEXT_UPTIME_UNKNOWN_MODEL: f64 = 0.5;
/// Floor of the text uptime size factor `max(M/7, 0.25)`.
pub const TEXT_UPTIME_MIN_SIZE_FACTOR: f64 = 0.25;

/// What an image worker earns per uptime interval.
pub fn image_uptime_reward(models: usize, allow_lora: bool) -> f64 {
    IMAGE_UPTIME_BASE
        + IMAGE_UPTIME_PER_MODEL * models as f64
        + if allow_lora { IMAGE_UPTIME_LORA } else { 0.0 }
}

/// What a text worker earns per uptime interval:
/// `(25 + 15·min(ctx, 262144)/1024) × max(M/7, 0.25)`, ×0.5 instead for an
/// unknown model size, and ×0.3 on an unvalidated backend.
pub fn text_uptime_reward(
    max_context_length: u32,
    model_billions: Option<f64>,
    validated: bool,
) -> f64 {
    let ctx = f64::from(max_context_length.min(TEXT_UPTIME_MAX_CONTEXT));
    let base = TEXT_UPTIME_BASE + TEXT_UPTIME_PER_KCTX * ctx / 1024.0;
    let size = model_billions.map_or(TEXT_UPTIME_UNKNOWN_MODEL, |m| {
        (m / 7.0).max(TEXT_UPTIME_MIN_SIZE_FACTOR)
    });
    let backend = if validated {
        1.0
    } else {
        super::UNVALIDATED_BACKEND_FACTOR
    };
    round2(base * size * backend)
}
