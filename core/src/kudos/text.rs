//! Text pricing: what a text job earns its worker and costs its requester,
//! from tokens, context length and model size.

use super::round2;

/// Models smaller than this many billion parameters get no size bonus.
pub const TEXT_BONUS_FLOOR_B: f64 = 13.0;
/// Exponent of the size bonus `(max(M, 13) / 13)^0.2`.
pub const TEXT_BONUS_EXPONENT: f64 = 0.2;
/// Divisor turning tokens × billions into a reward (`tokens·bonus·M/125·cm`).
pub const TEXT_REWARD_DIVISOR: f64 = 125.0;
/// Divisor of the estimate from params (`max_length·bonus·M·cm/100`).
pub const TEXT_ESTIMATE_DIVISOR: f64 = 100.0;
/// The model size assumed by estimates that name no model (13B).
pub const TEXT_ESTIMATE_DEFAULT_B: f64 = 13.0;
/// Reward factor for workers on a backend the horde has not validated.
pub const UNVALIDATED_BACKEND_FACTOR: f64 = 0.3;
/// Reward per token × context factor for trusted workers serving a model of unknown size.
pub const UNKNOWN_MODEL_TOKEN_PRICE: f64 = 0.027;
/// Fewest tokens a text job is rewarded for.
pub const MIN_REWARDED_TOKENS: u32 = 20;
/// Characters per token when counting a result's tokens.
pub const CHARS_PER_TOKEN: usize = 4;
/// Bounds of the context factor.
pub const CONTEXT_FACTOR_RANGE: (f64, f64) = (0.1, 30.0);
/// Upfront kudos per token × billion (`max_length·M/21` per text).
pub const TEXT_UPFRONT_DIVISOR: f64 = 21.0;
/// Upfront kudos per text when the request names no model.
pub const TEXT_UPFRONT_NO_MODEL: f64 = 20.0;
/// The per-job tax on text charges.
pub const TEXT_JOB_TAX: f64 = 1.0;

/// The context factor `clamp(1.2 + 2.2^(log2(ctx/1024)), 0.1, 30)`.
pub fn context_factor(context_tokens: f64) -> f64 {
    let (lo, hi) = CONTEXT_FACTOR_RANGE;
    let ctx = context_tokens.max(1.0);
    (1.2 + 2.2_f64.powf((ctx / 1024.0).log2())).clamp(lo, hi)
}

/// The size bonus `(max(M, 13) / 13)^0.2` for a model of `billions` parameters.
pub fn size_bonus(billions: f64) -> f64 {
    (billions.max(TEXT_BONUS_FLOOR_B) / TEXT_BONUS_FLOOR_B).powf(TEXT_BONUS_EXPONENT)
}

/// The tokens a result is rewarded for: `min(max(ceil(chars/4), 20), max_length)`.
pub fn rewarded_tokens(result_chars: usize, max_length: u32) -> u32 {
    let tokens = u32::try_from(result_chars.div_ceil(CHARS_PER_TOKEN)).unwrap_or(u32::MAX);
    tokens.max(MIN_REWARDED_TOKENS).min(max_length)
}

/// A finished text job, for rewarding its worker.
#[derive(Clone, Debug, PartialEq)]
pub struct TextJob {
    /// Tokens rewarded (see [`rewarded_tokens`]).
    pub tokens: u32,
    /// Billions of parameters of the model, when known.
    pub model_billions: Option<f64>,
    /// Tokens the context factor is computed from. Upstream's reward uses
    /// the job's own rewarded tokens here, not the request's context length:
    /// that is what reproduces its captured sample (0.41 for a 7B model).
    pub context_tokens: f64,
    /// Whether the worker's backend is validated.
    pub validated_backend: bool,
    /// Whether the worker's owner is trusted.
    pub trusted_worker: bool,
}

/// What a text job earns its worker.
pub fn text_reward(job: &TextJob) -> f64 {
    let cm = context_factor(job.context_tokens);
    let tokens = f64::from(job.tokens);
    let mut reward = match job.model_billions {
        Some(m) => tokens * size_bonus(m) * m / TEXT_REWARD_DIVISOR * cm,
        None if job.trusted_worker => tokens * UNKNOWN_MODEL_TOKEN_PRICE * cm,
        None => cm,
    };
    if !job.validated_backend {
        reward *= UNVALIDATED_BACKEND_FACTOR;
    }
    round2(reward)
}

/// What a text job costs its requester: its reward + 1.
pub fn text_charge(reward: f64) -> f64 {
    round2(reward + TEXT_JOB_TAX)
}

/// The estimate of one text from its params: `max_length·bonus·M·cm/100`.
pub fn text_job_estimate(max_length: u32, model_billions: Option<f64>, context_tokens: u32) -> f64 {
    let m = model_billions.unwrap_or(TEXT_ESTIMATE_DEFAULT_B);
    let cm = context_factor(f64::from(context_tokens));
    f64::from(max_length) * size_bonus(m) * m * cm / TEXT_ESTIMATE_DIVISOR
}

/// The dry-run estimate of a whole text request: `(estimate + 1)·n + 1`.
pub fn text_estimate(
    max_length: u32,
    model_billions: Option<f64>,
    context_tokens: u32,
    n: u32,
) -> f64 {
    let one = text_job_estimate(max_length, model_billions, context_tokens);
    round2((one + TEXT_JOB_TAX) * f64::from(n) + super::TEXT_ACTIVATION_TAX)
}

/// Kudos a text request must have available upfront when it needs them:
/// `round(max_length·max(M)/21, 2)·n`, or `20·n` when no model is named.
pub fn text_upfront_kudos(max_length: u32, largest_model_billions: Option<f64>, n: u32) -> f64 {
    match largest_model_billions {
        Some(m) => round2(f64::from(max_length) * m / TEXT_UPFRONT_DIVISOR) * f64::from(n),
        None => TEXT_UPFRONT_NO_MODEL * f64::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_text_reward_sample_is_reproduced() {
        // wire-samples.md §2: a 7B model on an unvalidated bridge ("KoboldAI
        // Client"), result of 68 characters, max_length 80 → reward 0.41.
        let text = " there lived an old clockmaker who repaired every clock but his own.";
        let tokens = rewarded_tokens(text.chars().count(), 80);
        let job = TextJob {
            tokens,
            model_billions: Some(7.0),
            context_tokens: f64::from(tokens),
            validated_backend: false,
            trusted_worker: false,
        };
        assert_eq!(text_reward(&job), 0.41);
    }

    #[test]
    fn context_factor_is_bounded() {
        assert!((context_factor(1024.0) - 2.2).abs() < 1e-9);
        assert_eq!(context_factor(1e12), 30.0);
        assert!(context_factor(1.0) > 1.2);
    }
}
