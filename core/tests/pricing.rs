//! Kudos pricing: the FAQ's reference points, upstream's worked samples, and
//! invariants (never negative, monotonic) checked with proptest.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use horde_core::api::{FormName, ImageGenerateRequest, PostProcessor, Sampler, SourceProcessing};
use horde_core::kudos::*;
use proptest::prelude::*;

fn job(side: u32, steps: u32) -> ImageJob {
    ImageJob {
        width: side,
        height: side,
        steps,
        sampler: Sampler::KEuler,
        ..ImageJob::default()
    }
}

fn assert_near(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= expected * tolerance,
        "{actual} is not within {}% of {expected}",
        tolerance * 100.0
    );
}

#[test]
fn faq_reference_points_before_tax() {
    // Seed FAQ: "a 50 step 512x512 image to cost 10 Kudos, 1024x1024 - 60
    // Kudos and 2048x2048 - 600 Kudos".
    assert_near(image_base_price(&job(512, 50)), 10.0, 0.10);
    assert_near(image_base_price(&job(1024, 50)), 60.0, 0.05);
    assert_near(image_base_price(&job(2048, 50)), 600.0, 0.05);
    // The exact legacy values.
    assert_eq!(image_base_price(&job(512, 50)), 10.83);
    assert_eq!(image_base_price(&job(1024, 50)), 60.06);
}

#[test]
fn steps_are_counted_as_the_gpu_runs_them() {
    let mut j = job(512, 20);
    assert_eq!(j.accurate_steps(), 20.0);
    j.sampler = Sampler::KDpmppSde;
    assert_eq!(j.accurate_steps(), 40.0);
    j.sampler = Sampler::KDpmAdaptive;
    assert_eq!(j.accurate_steps(), 50.0);
    j.sampler = Sampler::KEuler;
    j.has_source_image = true;
    assert_eq!(j.accurate_steps(), 16.0); // default denoising 0.8
    j.denoising_strength = Some(0.1);
    assert_eq!(j.accurate_steps(), 2.0);
    j.source_processing = SourceProcessing::Inpainting;
    assert_eq!(j.accurate_steps(), 20.0);
}

#[test]
fn post_processors_and_controlnet_multiply() {
    let base = image_base_price(&job(512, 50));
    let mut j = job(512, 50);
    j.post_processors = vec![PostProcessor::Gfpgan, PostProcessor::RealEsrganX4plus];
    assert_eq!(image_base_price(&j), round2(round2(base * 1.2) * 1.2));
    let mut c = job(512, 50);
    c.controlnet = true;
    assert_eq!(image_base_price(&c), round2(base * 3.0));
    c.return_control_map = true;
    assert_eq!(image_base_price(&c), base);
}

#[test]
fn charges_follow_upstreams_order() {
    let plain = ImageChargeFactors::default();
    assert_eq!(image_charge(10.0, &plain), 11.0);
    let all = ImageChargeFactors {
        source_image: true,
        post_processors: vec![PostProcessor::RealEsrganX2plus, PostProcessor::CodeFormers],
        fast_workers_only: true,
        deny_list: true,
    };
    assert_eq!(
        image_charge(10.0, &all),
        round2((10.0 * 1.3 * 1.05 + 1.0) * 1.2 * 1.1)
    );
    // An image request's activation tax and per-image charges reproduce
    // upstream's sample: 3 + 2 × round(6.22 + 1) = 17.
    let consumed = IMAGE_ACTIVATION_TAX + 2.0 * image_charge(6.22, &plain).round();
    assert_eq!(consumed, 17.0);
}

#[test]
fn estimates_cover_the_whole_request() {
    let mut req = ImageGenerateRequest::new("a red apple");
    req.params = Some(Default::default());
    let j = ImageJob::from_request(&req);
    let f = ImageChargeFactors::from_request(&req);
    let one = image_charge(image_base_price(&j), &f);
    assert_eq!(image_estimate(&j, 4, 1.0, &f), round2(one * 4.0 + 1.0));
    assert_eq!(image_estimate(&j, 1, 2.0, &f), round2(one * 2.0 + 1.0));
}

#[test]
fn baselines_scale_rewards() {
    assert_eq!(
        Baseline::from_reference("stable_diffusion_xl").reward_factor(false, false),
        2.0
    );
    assert_eq!(
        Baseline::from_reference("stable_diffusion_xl").reward_factor(false, true),
        4.0
    );
    assert_eq!(
        Baseline::from_reference("stable_cascade").reward_factor(true, false),
        7.0
    );
    assert_eq!(
        Baseline::from_reference("flux_1").reward_factor(false, false),
        8.0
    );
    assert_eq!(
        Baseline::from_reference("qwen_image").reward_factor(false, false),
        12.0
    );
    assert_eq!(
        Baseline::from_reference("stable_diffusion_1").reward_factor(true, true),
        1.0
    );
    assert_eq!(image_reward(10.0, 2.0, BRIDGE_FACTOR_OTHER), 15.0);
}

#[test]
fn text_prices() {
    assert_eq!(rewarded_tokens(3, 80), 20);
    assert_eq!(rewarded_tokens(1000, 80), 80);
    assert_eq!(text_charge(0.41), 1.41);
    // Trusted workers on unknown models earn per token.
    let unknown = TextJob {
        tokens: 100,
        model_billions: None,
        context_tokens: 1024.0,
        validated_backend: true,
        trusted_worker: true,
    };
    assert_eq!(text_reward(&unknown), round2(100.0 * 0.027 * 2.2));
    assert_eq!(
        text_reward(&TextJob {
            trusted_worker: false,
            ..unknown.clone()
        }),
        2.2
    );
    assert_eq!(text_upfront_kudos(512, Some(21.0), 2), 1024.0);
    assert_eq!(text_upfront_kudos(512, None, 3), 60.0);
    let est = text_estimate(80, Some(13.0), 1024, 2);
    assert_eq!(est, round2((80.0 * 13.0 * 2.2 / 100.0 + 1.0) * 2.0 + 1.0));
}

#[test]
fn interrogation_prices() {
    assert_eq!(form_price(&FormName::from("caption"), 1024, 1024), 1.0);
    assert_eq!(
        form_price(&FormName::from("interrogation"), 1024, 1024),
        3.0
    );
    assert_eq!(
        form_price(
            &FormName::PostProcess(PostProcessor::RealEsrganX4plus),
            1024,
            600
        ),
        12.0
    );
    assert_eq!(tiles(512, 512), 1);
    assert_eq!(form_charge(1.0, true), 3.0);
    assert_eq!(form_charge(1.0, false), 2.0);
}

#[test]
fn upfront_rules() {
    assert_eq!(max_free_resolution(0, 0, false), 1024);
    assert_eq!(max_free_resolution(0, 1000, false), 576);
    assert_eq!(max_free_resolution(0, 1000, true), 1024);
    let rules = ImageUpfrontRules::default();
    assert!(!image_needs_upfront(&job(1024, 40), &rules));
    assert!(image_needs_upfront(&job(1024, 41), &rules));
    assert!(image_needs_upfront(&job(1088, 30), &rules));
    let mut lcm = job(512, 11);
    lcm.sampler = Sampler::Lcm;
    assert!(image_needs_upfront(&lcm, &rules));
    let mut cn = job(512, 21);
    cn.controlnet = true;
    assert!(image_needs_upfront(&cn, &rules));
    assert!(image_needs_upfront(
        &job(512, 20),
        &ImageUpfrontRules {
            fast_workers_only: true,
            ..rules.clone()
        }
    ));
    assert_eq!(downgrade_size(2048, 1024, 1024), (1408, 704));
    assert_eq!(downgrade_size(512, 512, 576), (512, 512));
    assert_eq!(downgrade_steps(100, false, false), 30);
    assert_eq!(downgrade_steps(100, true, false), 20);
    assert_eq!(downgrade_steps(100, false, true), 10);
    assert_eq!(downgrade_steps(3, false, false), 3);
    assert_eq!(max_free_tokens(0, 0), 512);
    assert_eq!(max_free_tokens(0, 10_000), 256);
    assert!(text_needs_upfront(513, true, 512));
    assert!(text_needs_upfront(80, false, 512));
    assert!(!text_needs_upfront(512, true, 512));
}

#[test]
fn balances_and_rewards() {
    assert_eq!(min_kudos(AccountKind::Anonymous), -50.0);
    assert_eq!(min_kudos(AccountKind::Registered), 25.0);
    assert_eq!(available_kudos(100.0, 25.0, 10.0, 5.0), 60.0);
    assert_eq!(available_kudos(10.0, 25.0, 0.0, 0.0), 0.0);
    assert_eq!(settle(100.0, -30.0, 25.0).balance, 70.0);
    assert_eq!(settle(30.0, -30.0, 25.0).balance, 25.0);
    // As upstream: any movement ends at the floor or above, so a credit to
    // a balance below the floor lifts it there, and the lift is tallied.
    assert_eq!(
        settle(10.0, -30.0, 25.0),
        Settled {
            balance: 25.0,
            floor_grant: 45.0
        }
    );
    assert_eq!(
        settle(0.0, 5.0, 25.0),
        Settled {
            balance: 25.0,
            floor_grant: 20.0
        }
    );
    assert_eq!(
        settle(0.0, 30.0, 25.0),
        Settled {
            balance: 30.0,
            floor_grant: 0.0
        }
    );
    let split = split_job_reward(10.0, false);
    assert_eq!((split.spendable, split.escrow), (5.0, 5.0));
    assert_eq!(split_job_reward(10.0, true).escrow, 0.0);
    assert_eq!(image_uptime_reward(3, true), 86.0);
    assert_eq!(text_uptime_reward(2048, Some(14.0), true), 110.0);
    assert_eq!(text_uptime_reward(2048, None, true), 27.5);
    assert_eq!(ALCHEMIST_UPTIME, 40.0);
}

fn post_processors() -> impl Strategy<Value = Vec<PostProcessor>> {
    proptest::collection::vec(
        proptest::sample::select(PostProcessor::KNOWN).prop_map(PostProcessor::from),
        0..4,
    )
}

fn sampler() -> impl Strategy<Value = Sampler> {
    proptest::sample::select(Sampler::KNOWN).prop_map(Sampler::from)
}

prop_compose! {
    fn image_job()(w in 1u32..=48, h in 1u32..=48, steps in 1u32..=500, sampler in sampler(),
                   src in any::<bool>(), denoise in proptest::option::of(0.01f64..=1.0),
                   pps in post_processors(), controlnet in any::<bool>(), loras in 0usize..=5,
                   tis in 0usize..=20) -> ImageJob {
        ImageJob { width: w * 64, height: h * 64, steps, sampler, has_source_image: src,
                   source_processing: SourceProcessing::Img2img, denoising_strength: denoise,
                   post_processors: pps, controlnet, return_control_map: false, loras, tis }
    }
}

proptest! {
    #[test]
    fn image_prices_are_never_negative_and_monotonic(j in image_job(), dw in 0u32..8, dh in 0u32..8, ds in 0u32..50,
                                                      extra in post_processors()) {
        let price = image_base_price(&j);
        prop_assert!(price >= 0.0);
        let wider_img = ImageJob { width: (j.width + dw * 64).min(3072), ..j.clone() };
        prop_assert!(image_base_price(&wider_img) >= price);
        let taller = ImageJob { height: (j.height + dh * 64).min(3072), ..j.clone() };
        prop_assert!(image_base_price(&taller) >= price);
        let longer = ImageJob { steps: (j.steps + ds).min(500), ..j.clone() };
        prop_assert!(image_base_price(&longer) >= price);
        let mut more_pp = j.clone();
        more_pp.post_processors.extend(extra);
        prop_assert!(image_base_price(&more_pp) >= price);
        let f = ImageChargeFactors { post_processors: more_pp.post_processors.clone(), ..Default::default() };
        prop_assert!(image_charge(price, &f) >= price + HORDE_TAX - 0.01);
        prop_assert!(image_estimate(&j, 1, 1.0, &ImageChargeFactors::default()) > price);
    }

    #[test]
    fn text_prices_are_never_negative_and_monotonic(tokens in 0u32..4096, more in 0u32..512,
                                                    m in proptest::option::of(0.1f64..500.0),
                                                    ctx in 1.0f64..1e6, validated in any::<bool>(), trusted in any::<bool>()) {
        let job = TextJob { tokens, model_billions: m, context_tokens: ctx, validated_backend: validated, trusted_worker: trusted };
        let reward = text_reward(&job);
        prop_assert!(reward >= 0.0);
        let longer = TextJob { tokens: tokens + more, ..job.clone() };
        prop_assert!(text_reward(&longer) >= reward);
        let wider = TextJob { context_tokens: ctx * 2.0, ..job };
        prop_assert!(text_reward(&wider) >= reward);
        prop_assert!(text_charge(reward) > reward);
        prop_assert!(text_estimate(tokens.max(16), m, ctx as u32, 1) > 0.0);
    }

    #[test]
    fn interrogation_prices_are_positive(w in 1u32..4096, h in 1u32..4096,
                                         form in proptest::sample::select(FormName::known().collect::<Vec<_>>()).prop_map(FormName::from),
                                         slow in any::<bool>()) {
        let price = form_price(&form, w, h);
        prop_assert!(price >= 1.0);
        prop_assert!(form_charge(price, slow) > price);
    }

    #[test]
    fn downgrades_fit_and_keep_multiples(w in 1u32..=48, h in 1u32..=48, max in 576u32..=1024) {
        let (dw, dh) = downgrade_size(w * 64, h * 64, max);
        prop_assert!(dw % 64 == 0 && dh % 64 == 0 && dw > 0 && dh > 0);
        prop_assert!(dw <= w * 64 && dh <= h * 64);
        let floor = 512u64 * 512;
        prop_assert!(u64::from(dw) * u64::from(dh) <= (u64::from(max) * u64::from(max)).max(floor)
                     || (dw, dh) == (w * 64, h * 64));
    }

    #[test]
    fn movements_end_at_or_above_the_floor(balance in -100.0f64..1e6, delta in -1e6f64..1e6, floor in -50.0f64..25.0) {
        let s = settle(balance, delta, floor);
        prop_assert!(s.balance >= floor);
        prop_assert!(s.floor_grant >= 0.0);
        // Nothing is lost: the balance is the movement plus the floor's grant.
        prop_assert!((s.balance - (balance + delta + s.floor_grant)).abs() < 1e-6);
    }
}
