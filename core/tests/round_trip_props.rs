//! proptest: any valid value of a wire type survives JSON unchanged.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use std::fmt::Debug;

use horde_core::api::*;
use proptest::prelude::*;
use proptest::{collection::vec, option::of as opt};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z_#0-9 -]{0,16}"]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("JSON numbers are finite", |x| x.is_finite()),
        -1e6..1e6_f64,
        (0u32..10_000).prop_map(|c| f64::from(c) / 100.0),
    ]
}

fn known_or_other<E: From<String> + Debug + Clone + 'static>(
    known: &'static [&'static str],
) -> impl Strategy<Value = E> {
    prop_oneof![
        3 => proptest::sample::select(known).prop_map(|k| E::from(k.to_owned())),
        1 => text().prop_map(E::from),
    ]
}

fn json_map() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    proptest::collection::btree_map(text(), leaf, 0..4).prop_map(|m| m.into_iter().collect())
}

fn assert_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let json = serde_json::to_string(value).expect("serialises");
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(&back, value, "{json}");
}

prop_compose! {
    fn lora()(name in text(), model in opt(float()), clip in opt(float()),
              inject_trigger in opt(text()), is_version in opt(any::<bool>())) -> Lora {
        Lora { name, model, clip, inject_trigger, is_version }
    }
}

prop_compose! {
    fn ti()(name in text(), inject_ti in opt(text()), strength in opt(float())) -> TextualInversion {
        TextualInversion { name, inject_ti, strength }
    }
}

prop_compose! {
    fn image_settings()(
        a in (opt(known_or_other::<Sampler>(Sampler::KNOWN)), opt(float()), opt(float()), opt(float()),
              opt(text()), opt(any::<u32>()), opt(any::<u32>())),
        b in (opt(vec(known_or_other::<PostProcessor>(PostProcessor::KNOWN), 0..4)),
              opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()), opt(any::<u32>()),
              opt(known_or_other::<ControlType>(ControlType::KNOWN)), opt(any::<bool>()), opt(any::<bool>())),
        c in (opt(float()), opt(vec(lora(), 0..3)), opt(vec(ti(), 0..3)), opt(json_map()),
              opt(vec((text(), text()).prop_map(|(text, reference)| ExtraText { text, reference }), 0..2)),
              opt(text()), opt(any::<bool>())),
    ) -> ImageSettings {
        ImageSettings {
            sampler_name: a.0, cfg_scale: a.1, denoising_strength: a.2, hires_fix_denoising_strength: a.3,
            seed: a.4, height: a.5, width: a.6,
            post_processing: b.0, karras: b.1, tiling: b.2, hires_fix: b.3, clip_skip: b.4,
            control_type: b.5, image_is_control: b.6, return_control_map: b.7,
            facefixer_strength: c.0, loras: c.1, tis: c.2, special: c.3, extra_texts: c.4,
            workflow: c.5, transparent: c.6,
        }
    }
}

fn extra_source_image() -> impl Strategy<Value = ExtraSourceImage> {
    (text(), opt(float())).prop_map(|(image, strength)| ExtraSourceImage { image, strength })
}

fn worker_ids() -> impl Strategy<Value = Vec<WorkerId>> {
    vec(text().prop_map(WorkerId), 0..3)
}

prop_compose! {
    fn request_options()(
        a in (opt(vec(text(), 0..3)), opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()),
              opt(any::<bool>()), opt(worker_ids()), opt(any::<bool>())),
        b in (opt(vec(extra_source_image(), 0..2)), opt(any::<bool>()), opt(text()), opt(any::<bool>()),
              opt(any::<bool>()), opt(text()), opt(text())),
    ) -> RequestOptions {
        RequestOptions {
            models: a.0, trusted_workers: a.1, validated_backends: a.2, slow_workers: a.3,
            extra_slow_workers: a.4, workers: a.5, worker_blacklist: a.6,
            extra_source_images: b.0, dry_run: b.1, proxied_account: b.2, disable_batching: b.3,
            allow_downgrade: b.4, webhook: b.5, style: b.6,
        }
    }
}

prop_compose! {
    fn image_request()(
        prompt in text(),
        params in opt((image_settings(), opt(any::<u32>()), opt(any::<u32>()), opt(any::<u32>()))
            .prop_map(|(settings, seed_variation, steps, n)| ImageParams { settings, seed_variation, steps, n })),
        options in request_options(),
        a in (opt(any::<bool>()), opt(any::<bool>()), opt(text()),
              opt(known_or_other::<SourceProcessing>(SourceProcessing::KNOWN)), opt(text()),
              opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>())),
    ) -> ImageGenerateRequest {
        ImageGenerateRequest {
            prompt, params, options,
            nsfw: a.0, censor_nsfw: a.1, source_image: a.2, source_processing: a.3, source_mask: a.4,
            r2: a.5, shared: a.6, replacement_filter: a.7,
        }
    }
}

prop_compose! {
    fn check()(a in (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>()),
               b in (any::<bool>(), any::<i64>(), any::<u32>(), float(), any::<bool>())) -> RequestStatusCheck {
        RequestStatusCheck {
            finished: a.0, processing: a.1, restarted: a.2, waiting: a.3, done: a.4,
            faulted: b.0, wait_time: b.1, queue_position: b.2, kudos: b.3, is_possible: b.4,
        }
    }
}

fn gen_metadata() -> impl Strategy<Value = GenMetadata> {
    (
        known_or_other::<MetadataType>(MetadataType::KNOWN),
        known_or_other::<MetadataValue>(MetadataValue::KNOWN),
        opt(text()),
    )
        .prop_map(|(kind, value, reference)| GenMetadata {
            kind,
            value,
            reference,
        })
}

fn state() -> impl Strategy<Value = GenerationState> {
    known_or_other(GenerationState::KNOWN)
}

prop_compose! {
    fn image_generation()(img in text(), seed in text(), id in text(), censored in any::<bool>(),
                          gen_metadata in vec(gen_metadata(), 0..3), worker_id in text(),
                          worker_name in text(), model in text(), state in state()) -> ImageGeneration {
        ImageGeneration { img, seed, id: JobId(id), censored, gen_metadata,
                          worker_id: WorkerId(worker_id), worker_name, model, state }
    }
}

prop_compose! {
    fn skipped()(a in (opt(any::<u64>()), opt(any::<u64>()), opt(any::<u64>()), opt(any::<u64>()),
                       opt(any::<u64>()), opt(any::<u64>()), opt(any::<u64>()), opt(any::<u64>()),
                       opt(any::<u64>()), opt(any::<u64>())),
                 b in (opt(any::<u64>()), opt(any::<u64>()), opt(any::<u64>()), opt(any::<u64>()),
                       opt(any::<u64>()), opt(any::<u64>()), opt(any::<u64>()), opt(any::<u64>()),
                       opt(any::<u64>()))) -> SkippedReasons {
        SkippedReasons {
            worker_id: a.0, performance: a.1, nsfw: a.2, blacklist: a.3, untrusted: a.4, models: a.5,
            bridge_version: a.6, kudos: a.7, max_pixels: a.8, unsafe_ip: a.9,
            img2img: b.0, painting: b.1, post_processing: b.2, lora: b.3, controlnet: b.4,
            step_count: b.5, max_context_length: b.6, max_length: b.7, matching_softprompt: b.8,
        }
    }
}

fn messages() -> impl Strategy<Value = Vec<WorkerMessage>> {
    vec(
        (text(), text(), opt(text()), opt(text())).prop_map(|(id, message, origin, expiry)| {
            WorkerMessage {
                id,
                message,
                origin,
                expiry,
                ..Default::default()
            }
        }),
        0..2,
    )
}

prop_compose! {
    fn pop_common()(name in text(), a in (opt(vec(text(), 0..3)), opt(any::<bool>()), opt(vec(text(), 0..3)),
                    opt(text()), opt(any::<u32>()), opt(any::<bool>()), opt(any::<u32>()), opt(any::<bool>()))) -> PopCommon {
        PopCommon { name, priority_usernames: a.0, nsfw: a.1, models: a.2, bridge_agent: a.3,
                    threads: a.4, require_upfront_kudos: a.5, amount: a.6, extra_slow_worker: a.7 }
    }
}

prop_compose! {
    fn image_pop_request()(common in pop_common(),
        a in (opt(any::<u64>()), opt(vec(text(), 0..3)), opt(any::<bool>()), opt(any::<bool>()),
              opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()),
              opt(any::<bool>()), opt(any::<bool>()))) -> ImagePopRequest {
        ImagePopRequest { common, max_pixels: a.0, blacklist: a.1, allow_img2img: a.2, allow_painting: a.3,
            allow_unsafe_ipaddr: a.4, allow_post_processing: a.5, allow_controlnet: a.6,
            allow_sdxl_controlnet: a.7, allow_lora: a.8, limit_max_steps: a.9 }
    }
}

prop_compose! {
    fn image_pop_response()(
        payload in (opt(text()), opt(any::<u32>()), opt(any::<u32>()), opt(any::<bool>()), image_settings())
            .prop_map(|(prompt, ddim_steps, n_iter, use_nsfw_censor, settings)|
                ImagePopPayload { prompt, ddim_steps, n_iter, use_nsfw_censor, settings }),
        a in (opt(text()), vec(text(), 0..3), messages(), opt(any::<u32>()), skipped(), opt(text())),
        b in (opt(text()), known_or_other::<SourceProcessing>(SourceProcessing::KNOWN), opt(text()),
              opt(vec(extra_source_image(), 0..2)), opt(text()), opt(vec(text(), 0..2))),
    ) -> ImagePopResponse {
        ImagePopResponse {
            payload, id: a.0.map(JobId), ids: a.1.into_iter().map(JobId).collect(), messages: a.2,
            ttl: a.3, skipped: a.4, model: a.5, source_image: b.0, source_processing: b.1,
            source_mask: b.2, extra_source_images: b.3, r2_upload: b.4, r2_uploads: b.5,
        }
    }
}

prop_compose! {
    fn text_params()(
        a in (opt(any::<u32>()), opt(any::<u32>()), opt(any::<u32>()), opt(float()), opt(any::<u32>()),
              opt(float()), opt(any::<bool>()), opt(float()), opt(float()), opt(float())),
        b in (opt(any::<u32>()), opt(float()), opt(float()), opt(vec(any::<u32>(), 0..8)), opt(any::<bool>()),
              opt(vec(text(), 0..3)), opt(float()), opt(float()), opt(float()), opt(float())),
        c in (opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>())),
    ) -> TextParams {
        TextParams {
            n: a.0, max_context_length: a.1, max_length: a.2, rep_pen: a.3, rep_pen_range: a.4,
            rep_pen_slope: a.5, singleline: a.6, temperature: a.7, tfs: a.8, top_a: a.9,
            top_k: b.0, top_p: b.1, typical: b.2, sampler_order: b.3, use_default_badwordsids: b.4,
            stop_sequence: b.5, min_p: b.6, smoothing_factor: b.7, dynatemp_range: b.8, dynatemp_exponent: b.9,
            frmtadsnsp: c.0, frmtrmblln: c.1, frmtrmspch: c.2, frmttriminc: c.3,
        }
    }
}

prop_compose! {
    fn text_request()(prompt in text(), params in opt(text_params()), options in request_options(),
                      softprompt in opt(text())) -> TextGenerateRequest {
        TextGenerateRequest { prompt, params, options, softprompt }
    }
}

prop_compose! {
    fn text_generation()(text in text(), seed in any::<i64>(), id in opt(text()),
                         gen_metadata in vec(gen_metadata(), 0..2), worker_id in text(),
                         worker_name in text(), model in text(), state in state()) -> TextGeneration {
        TextGeneration { text, seed, id: id.map(JobId), gen_metadata, worker_id: WorkerId(worker_id),
                         worker_name, model, state }
    }
}

prop_compose! {
    fn text_pop_response()(prompt in opt(text()), params in text_params(),
        a in (opt(text()), vec(text(), 0..3), messages(), opt(any::<u32>()),
              opt(vec(extra_source_image(), 0..2)), skipped(), opt(text()), opt(text()))) -> TextPopResponse {
        TextPopResponse { payload: TextPopPayload { prompt, params }, id: a.0.map(JobId),
            ids: a.1.into_iter().map(JobId).collect(), messages: a.2, ttl: a.3,
            extra_source_images: a.4, skipped: a.5, softprompt: a.6, model: a.7 }
    }
}

fn form_name() -> impl Strategy<Value = FormName> {
    prop_oneof![
        3 => proptest::sample::select(FormName::known().collect::<Vec<_>>()).prop_map(FormName::from),
        1 => text().prop_map(FormName::from),
    ]
}

fn interrogation_state() -> impl Strategy<Value = InterrogationState> {
    known_or_other(InterrogationState::KNOWN)
}

fn error_body() -> impl Strategy<Value = ErrorBody> {
    (
        text(),
        opt(known_or_other::<Rc>(Rc::KNOWN)),
        opt(proptest::collection::btree_map(text(), text(), 0..3)),
    )
        .prop_map(|(message, rc, errors)| ErrorBody {
            message,
            rc,
            errors,
        })
}

prop_compose! {
    fn worker_details()(
        a in (known_or_other::<WorkerType>(WorkerType::KNOWN), text(), text(), any::<bool>(), any::<u64>(),
              any::<u64>(), float(), (opt(float()), opt(any::<i64>())), text(), any::<u32>()),
        b in (any::<u64>(), any::<bool>(), opt(any::<bool>()), opt(text()), any::<bool>(), opt(text()),
              opt(text()), any::<bool>(), any::<bool>(), opt(any::<u32>())),
        c in (opt((opt(text()), opt(text()))), opt(text()), text(), opt(vec(text(), 0..3)),
              opt(vec(text(), 0..3)), opt(any::<u64>()), opt(float()), opt(any::<bool>()), opt(any::<bool>())),
        d in (opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()),
              opt(any::<u32>()), opt(any::<u32>()), opt(float())),
    ) -> WorkerDetails {
        WorkerDetails {
            kind: a.0, name: a.1, id: WorkerId(a.2), online: a.3, requests_fulfilled: a.4,
            uncompleted_jobs: a.5, kudos_rewards: a.6,
            kudos_details: WorkerKudosDetails { generated: a.7.0, uptime: a.7.1 },
            performance: a.8, threads: a.9, uptime: b.0, maintenance_mode: b.1, paused: b.2, info: b.3,
            nsfw: b.4, owner: b.5, ipaddr: b.6, trusted: b.7, flagged: b.8, suspicious: b.9,
            team: c.0.map(|(name, id)| TeamDetailsLite { name, id: id.map(TeamId) }),
            contact: c.1, bridge_agent: c.2, models: c.3, forms: c.4, max_pixels: c.5,
            megapixelsteps_generated: c.6, img2img: c.7, painting: c.8,
            post_processing: d.0, controlnet: d.1, sdxl_controlnet: d.2, lora: d.3,
            max_length: d.4, max_context_length: d.5, tokens_generated: d.6, messages: None,
        }
    }
}

prop_compose! {
    fn user_details()(
        a in (text(), any::<u64>(), float(), opt((float(), float(), float(), float(), float(), float(), float(), float())),
              opt(float()), opt(any::<u32>()), opt(any::<u32>()), opt(any::<bool>()), opt(any::<bool>())),
        b in (opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>()),
              opt(any::<bool>()), opt(any::<bool>()), opt(any::<u32>()), opt(any::<bool>()), opt(text())),
        c in (opt(text()), opt(any::<u64>()), opt(any::<u32>()), opt(worker_ids()), opt(vec(text(), 0..2)),
              opt((opt(any::<i64>()), opt(text()))), opt((float(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()))),
    ) -> UserDetails {
        UserDetails {
            username: a.0, id: a.1, kudos: a.2,
            kudos_details: a.3.map(|k| UserKudosDetails { accumulated: k.0, gifted: k.1, donated: k.2,
                admin: k.3, received: k.4, recurring: k.5, awarded: k.6, styled: k.7 }),
            evaluating_kudos: a.4, concurrency: a.5, worker_invited: a.6, moderator: a.7, trusted: a.8,
            flagged: b.0, vpn: b.1, service: b.2, education: b.3, customizer: b.4, special: b.5,
            deleted: b.6, suspicious: b.7, pseudonymous: b.8, contact: b.9,
            admin_comment: c.0, account_age: c.1, worker_count: c.2, worker_ids: c.3,
            sharedkey_ids: c.4.map(|v| v.into_iter().map(SharedKeyId).collect()),
            monthly_kudos: c.5.map(|(amount, last_received)| MonthlyKudos { amount, last_received }),
            records: c.6.map(|r| UserRecords {
                usage: UserThingRecords { megapixelsteps: r.0, tokens: r.1 },
                contribution: UserThingRecords { megapixelsteps: r.0, tokens: r.2 },
                fulfillment: UserAmountRecords { image: r.3, text: r.4, interrogation: r.1 },
                request: UserAmountRecords::default(),
                style: UserAmountRecords::default(),
            }),
            active_generations: None, styles: None, proxy_passkey: None,
            usage: None, contributions: None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn image_requests(v in image_request()) { assert_round_trip(&v); }

    #[test]
    fn async_responses(id in text(), kudos in float(), message in opt(text()),
                       warnings in opt(vec((known_or_other::<WarningCode>(WarningCode::KNOWN), text()), 0..3))) {
        let warnings = warnings.map(|w| w.into_iter().map(|(code, message)| Warning { code, message }).collect());
        assert_round_trip(&RequestAsyncResponse { id: RequestId(id), kudos, message, warnings });
        assert_round_trip(&KudosEstimate { kudos });
    }

    #[test]
    fn checks_and_image_status(check in check(), generations in vec(image_generation(), 0..3), shared in any::<bool>()) {
        assert_round_trip(&check);
        assert_round_trip(&ImageStatus { generations, shared, check });
    }

    #[test]
    fn image_pops(req in image_pop_request(), resp in image_pop_response()) {
        assert_round_trip(&req);
        assert_round_trip(&resp);
    }

    #[test]
    fn image_submits(id in text(), generation in opt(text()), state in opt(state()), seed in any::<i64>(),
                     censored in opt(any::<bool>()), gen_metadata in opt(vec(gen_metadata(), 0..3)), reward in float()) {
        assert_round_trip(&ImageSubmitRequest { id: JobId(id), generation, state, seed, censored, gen_metadata });
        assert_round_trip(&SubmitResponse { reward });
    }

    #[test]
    fn text_requests_and_status(req in text_request(), check in check(), generations in vec(text_generation(), 0..3)) {
        assert_round_trip(&req);
        assert_round_trip(&TextStatus { generations, check });
    }

    #[test]
    fn text_pops_and_submits(common in pop_common(), max_length in opt(any::<u32>()), ctx in opt(any::<u32>()),
                             softprompts in opt(vec(text(), 0..2)), resp in text_pop_response(),
                             id in text(), generation in opt(text()), state in opt(state()), seed in opt(any::<i64>()),
                             gen_metadata in opt(vec(gen_metadata(), 0..2))) {
        assert_round_trip(&TextPopRequest { common, max_length, max_context_length: ctx, softprompts });
        assert_round_trip(&resp);
        assert_round_trip(&TextSubmitRequest { id: JobId(id), generation, state, seed, gen_metadata });
    }

    #[test]
    fn interrogations(forms in vec((form_name(), opt(json_map())), 0..4), source_image in text(),
                      flags in (opt(any::<bool>()), opt(any::<bool>()), opt(text())),
                      status_forms in vec((form_name(), opt(interrogation_state()), opt(json_map()), opt(text()), opt(text())), 0..3),
                      request_state in interrogation_state(), id in text(), message in opt(text())) {
        let forms: Vec<_> = forms.into_iter().map(|(name, payload)| InterrogationFormRequest { name, payload }).collect();
        assert_round_trip(&InterrogationRequest { forms, source_image: source_image.clone(),
            trusted_workers: flags.0, slow_workers: flags.1, webhook: flags.2.clone() });
        assert_round_trip(&InterrogationAsyncResponse { id: RequestId(id.clone()), message });
        let status = InterrogationStatus {
            state: request_state,
            forms: status_forms.iter().cloned().map(|(form, state, result, worker_id, worker_name)|
                InterrogationFormStatus { form, state, result, worker_id: worker_id.map(WorkerId), worker_name }).collect(),
        };
        assert_round_trip(&status);
        let pop = InterrogationPopResponse {
            forms: status_forms.into_iter().map(|(form, _, payload, source_image, r2_upload)|
                InterrogationPopForm { id: JobId(id.clone()), form, payload, source_image, r2_upload }).collect(),
            skipped: SkippedReasons::default(),
        };
        assert_round_trip(&pop);
        assert_round_trip(&InterrogationPopRequest { name: id.clone(), priority_usernames: None,
            forms: Some(vec![FormName::default()]), amount: Some(2), bridge_agent: flags.2, threads: None, max_tiles: Some(80) });
        assert_round_trip(&InterrogationSubmitRequest { id: JobId(id), result: serde_json::json!({"caption": "c"}), state: None });
    }

    #[test]
    fn errors_and_small_bodies(err in error_body(), username in text(), amount in opt(float()),
                               transferred in float(), key in (opt(any::<i64>()), opt(any::<i64>()), opt(text()),
                               opt(any::<i64>()), opt(any::<i64>()), opt(any::<i64>()))) {
        assert_round_trip(&err);
        assert_round_trip(&KudosTransferRequest { username: username.clone(), amount });
        assert_round_trip(&KudosTransferResponse { transferred });
        assert_round_trip(&SharedKeyInput { kudos: key.0, expiry: key.1, name: key.2.clone(),
            max_image_pixels: key.3, max_image_steps: key.4, max_text_tokens: key.5 });
        assert_round_trip(&SharedKeyDetails { id: SharedKeyId(username.clone()), username, name: key.2,
            kudos: key.0.unwrap_or(-1), expiry: None, utilized: key.1.unwrap_or(0),
            max_image_pixels: -1, max_image_steps: key.4.unwrap_or(-1), max_text_tokens: -1 });
        assert_round_trip(&SimpleResponse::ok());
    }

    #[test]
    fn users_and_workers(user in user_details(), worker in worker_details(),
                         modify in (opt(any::<bool>()), opt(text()), opt(any::<bool>()), opt(text()), opt(text()), opt(text()))) {
        assert_round_trip(&user);
        assert_round_trip(&worker);
        assert_round_trip(&ModifyWorkerRequest { maintenance: modify.0, maintenance_msg: modify.1.clone(),
            paused: modify.2, info: modify.3.clone(), name: modify.4.clone(), team: modify.5.clone() });
        assert_round_trip(&ModifyWorkerResponse { maintenance: modify.0, paused: modify.2, info: modify.3,
            name: modify.4, team: modify.5 });
        assert_round_trip(&DeletedWorker { deleted_id: worker.id.clone(), deleted_name: worker.name.clone() });
    }

    #[test]
    fn status_bodies(name in text(), counts in (any::<u64>(), any::<u64>(), any::<u64>()), f in (float(), float(), float()),
                     eta in any::<i64>(), kind in known_or_other::<ModelType>(ModelType::KNOWN),
                     modes in (opt(any::<bool>()), opt(any::<bool>()), opt(any::<bool>())),
                     per_model in proptest::collection::btree_map(text(), any::<u64>(), 0..3)) {
        assert_round_trip(&ActiveModel { name: name.clone(), count: counts.0, performance: f.0, queued: f.1,
            jobs: f.2, eta, kind });
        assert_round_trip(&Heartbeat { message: name, version: "1".into(), queue: Some(counts.1),
            threads: None, active_count: Some(counts.2), db_connection: modes.0 });
        assert_round_trip(&HordePerformance { queued_requests: counts.0, queued_megapixelsteps: f.0,
            past_minute_tokens: f.1, ..HordePerformance::default() });
        assert_round_trip(&HordeModes { maintenance_mode: modes.0, invite_only_mode: modes.1, raid_mode: modes.2 });
        assert_round_trip(&ModelStats { day: per_model.clone(), month: per_model.clone(), total: per_model });
        let period = ImagePeriodTotals { images: counts.0, ps: counts.1 };
        assert_round_trip(&ImageStatsTotals { minute: period.clone(), hour: period.clone(), day: period.clone(),
            month: period.clone(), total: period });
    }
}
