//! Every validation rule of image, text and interrogation async requests:
//! an invalid request is rejected with upstream's rc and the field named, and
//! the valid boundary value is accepted.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail by panicking

use horde_core::api::validate::*;
use horde_core::api::*;

fn image(edit: impl FnOnce(&mut ImageGenerateRequest, &mut ImageParams)) -> ImageGenerateRequest {
    let mut req = ImageGenerateRequest::new("a red apple on a wooden table");
    let mut params = ImageParams::default();
    edit(&mut req, &mut params);
    req.params = Some(params);
    req
}

fn text(edit: impl FnOnce(&mut TextGenerateRequest, &mut TextParams)) -> TextGenerateRequest {
    let mut req = TextGenerateRequest::new("Once upon a time");
    let mut params = TextParams::default();
    edit(&mut req, &mut params);
    req.params = Some(params);
    req
}

#[track_caller]
fn rejects(result: Result<(), ValidationError>, field: &str, rc: Rc) {
    let err = result.expect_err("should be rejected");
    assert_eq!((err.field.as_str(), &err.rc), (field, &rc), "{err}");
    let body = err.to_error_body();
    assert_eq!(body.rc, Some(rc));
    assert!(!body.message.is_empty());
    assert!((400..500).contains(&body.http_status()));
}

#[track_caller]
fn accepts(result: Result<(), ValidationError>) {
    if let Err(e) = result {
        panic!("should be accepted: {e}");
    }
}

fn lora(name: &str) -> Lora {
    Lora {
        name: name.into(),
        ..Lora::default()
    }
}

fn ti(name: &str) -> TextualInversion {
    TextualInversion {
        name: name.into(),
        ..TextualInversion::default()
    }
}

#[test]
fn a_plain_image_request_is_valid() {
    accepts(validate_image_request(&ImageGenerateRequest::new("x")));
    accepts(validate_image_request(&image(|_, _| {})));
}

#[test]
fn image_prompt_rules() {
    rejects(
        validate_image_request(&ImageGenerateRequest::new("")),
        "prompt",
        Rc::MissingPrompt,
    );
    rejects(
        validate_image_request(&ImageGenerateRequest::new("a\0b")),
        "prompt",
        Rc::NulByteInPayload,
    );
    let at_limit = vec!["word"; MAX_PROMPT_WORDS].join(" ");
    accepts(validate_image_request(&ImageGenerateRequest::new(
        at_limit.clone(),
    )));
    rejects(
        validate_image_request(&ImageGenerateRequest::new(at_limit + " more")),
        "prompt",
        Rc::InvalidPromptSize,
    );
}

#[test]
fn image_size_rules() {
    for side in [64, 512, 3072] {
        accepts(validate_image_request(&image(|_, p| {
            p.settings.width = Some(side);
            p.settings.height = Some(side);
        })));
    }
    for bad in [0, 63, 100, 3136] {
        rejects(
            validate_image_request(&image(|_, p| p.settings.width = Some(bad))),
            "params.width",
            Rc::InvalidSize,
        );
        rejects(
            validate_image_request(&image(|_, p| p.settings.height = Some(bad))),
            "params.height",
            Rc::InvalidSize,
        );
    }
}

#[test]
fn image_steps_n_and_cfg_rules() {
    accepts(validate_image_request(&image(|_, p| p.steps = Some(1))));
    accepts(validate_image_request(&image(|_, p| p.steps = Some(500))));
    rejects(
        validate_image_request(&image(|_, p| p.steps = Some(0))),
        "params.steps",
        Rc::BadRequest,
    );
    rejects(
        validate_image_request(&image(|_, p| p.steps = Some(501))),
        "params.steps",
        Rc::TooManySteps,
    );
    accepts(validate_image_request(&image(|_, p| p.n = Some(1))));
    accepts(validate_image_request(&image(|_, p| p.n = Some(20))));
    for bad in [0, 21] {
        rejects(
            validate_image_request(&image(|_, p| p.n = Some(bad))),
            "params.n",
            Rc::BadRequest,
        );
    }
    for good in [0.0, 7.35, 100.0] {
        accepts(validate_image_request(&image(|_, p| {
            p.settings.cfg_scale = Some(good)
        })));
    }
    for bad in [-0.01, 100.01] {
        rejects(
            validate_image_request(&image(|_, p| p.settings.cfg_scale = Some(bad))),
            "params.cfg_scale",
            Rc::BadRequest,
        );
    }
    rejects(
        validate_image_request(&image(|_, p| p.settings.cfg_scale = Some(7.555))),
        "params.cfg_scale",
        Rc::BadCFGDecimals,
    );
    rejects(
        validate_image_request(&image(|_, p| p.settings.cfg_scale = Some(f64::NAN))),
        "params.cfg_scale",
        Rc::BadCFGNumber,
    );
}

#[test]
fn image_strength_and_range_rules() {
    type Setter = fn(&mut ImageParams, f64);
    let cases: [(&str, Setter, f64, f64, f64, f64); 3] = [
        (
            "params.denoising_strength",
            |p, v| p.settings.denoising_strength = Some(v),
            0.01,
            1.0,
            0.0,
            1.01,
        ),
        (
            "params.hires_fix_denoising_strength",
            |p, v| p.settings.hires_fix_denoising_strength = Some(v),
            0.01,
            1.0,
            0.009,
            1.5,
        ),
        (
            "params.facefixer_strength",
            |p, v| p.settings.facefixer_strength = Some(v),
            0.0,
            1.0,
            -0.1,
            1.1,
        ),
    ];
    for (field, set, lo, hi, below, above) in cases {
        accepts(validate_image_request(&image(|_, p| set(p, lo))));
        accepts(validate_image_request(&image(|_, p| set(p, hi))));
        rejects(
            validate_image_request(&image(|_, p| set(p, below))),
            field,
            Rc::BadRequest,
        );
        rejects(
            validate_image_request(&image(|_, p| set(p, above))),
            field,
            Rc::BadRequest,
        );
    }
    accepts(validate_image_request(&image(|_, p| {
        p.seed_variation = Some(1000)
    })));
    rejects(
        validate_image_request(&image(|_, p| p.seed_variation = Some(1001))),
        "params.seed_variation",
        Rc::BadRequest,
    );
    accepts(validate_image_request(&image(|_, p| {
        p.settings.clip_skip = Some(12)
    })));
    rejects(
        validate_image_request(&image(|_, p| p.settings.clip_skip = Some(0))),
        "params.clip_skip",
        Rc::BadRequest,
    );
}

#[test]
fn image_sampler_rules() {
    for name in Sampler::KNOWN {
        accepts(validate_image_request(&image(|_, p| {
            p.settings.sampler_name = Some(Sampler::from(*name))
        })));
    }
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.sampler_name = Some(Sampler::from("k_nope"))
        })),
        "params.sampler_name",
        Rc::BadRequest,
    );
}

#[test]
fn image_post_processing_rules() {
    accepts(validate_image_request(&image(|_, p| {
        p.settings.post_processing = Some(vec![
            PostProcessor::Gfpgan,
            PostProcessor::RealEsrganX4plus,
            PostProcessor::StripBackground,
        ])
    })));
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.post_processing = Some(vec![
                PostProcessor::RealEsrganX4plus,
                PostProcessor::NmkdSiax,
            ])
        })),
        "params.post_processing",
        Rc::TooManyUpscalers,
    );
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.post_processing = Some(vec![PostProcessor::Gfpgan, PostProcessor::Gfpgan])
        })),
        "params.post_processing",
        Rc::BadRequest,
    );
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.post_processing = Some(vec![PostProcessor::from("MagicUpscaler")])
        })),
        "params.post_processing",
        Rc::BadRequest,
    );
}

#[test]
fn image_lora_and_ti_rules() {
    accepts(validate_image_request(&image(|_, p| {
        p.settings.loras = Some((0..5).map(|i| lora(&i.to_string())).collect())
    })));
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.loras = Some((0..6).map(|i| lora(&i.to_string())).collect())
        })),
        "params.loras",
        Rc::TooManyLoras,
    );
    rejects(
        validate_image_request(&image(|_, p| p.settings.loras = Some(vec![lora("")]))),
        "params.loras.0.name",
        Rc::BadRequest,
    );
    accepts(validate_image_request(&image(|_, p| {
        p.settings.loras = Some(vec![lora(&"a".repeat(255))])
    })));
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.loras = Some(vec![lora(&"a".repeat(256))])
        })),
        "params.loras.0.name",
        Rc::BadRequest,
    );
    let strong = |v| Lora {
        model: Some(v),
        ..lora("x")
    };
    accepts(validate_image_request(&image(|_, p| {
        p.settings.loras = Some(vec![strong(-5.0), strong(5.0)])
    })));
    rejects(
        validate_image_request(&image(|_, p| p.settings.loras = Some(vec![strong(5.5)]))),
        "params.loras.0.model",
        Rc::BadRequest,
    );
    let trigger = |t: &str| Lora {
        inject_trigger: Some(t.into()),
        ..lora("x")
    };
    accepts(validate_image_request(&image(|_, p| {
        p.settings.loras = Some(vec![trigger(&"t".repeat(30))])
    })));
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.loras = Some(vec![trigger(&"t".repeat(31))])
        })),
        "params.loras.0.inject_trigger",
        Rc::BadRequest,
    );
    let version = |n: &str| Lora {
        is_version: Some(true),
        ..lora(n)
    };
    accepts(validate_image_request(&image(|_, p| {
        p.settings.loras = Some(vec![version("12345")])
    })));
    rejects(
        validate_image_request(&image(|_, p| p.settings.loras = Some(vec![version("v1")]))),
        "params.loras.0.name",
        Rc::BadLoraVersion,
    );
    accepts(validate_image_request(&image(|_, p| {
        p.settings.tis = Some((0..20).map(|i| ti(&i.to_string())).collect())
    })));
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.tis = Some((0..21).map(|i| ti(&i.to_string())).collect())
        })),
        "params.tis",
        Rc::TooManyTIs,
    );
    let inject = |w: &str| TextualInversion {
        inject_ti: Some(w.into()),
        ..ti("x")
    };
    accepts(validate_image_request(&image(|_, p| {
        p.settings.tis = Some(vec![inject("prompt"), inject("negprompt")])
    })));
    rejects(
        validate_image_request(&image(|_, p| p.settings.tis = Some(vec![inject("middle")]))),
        "params.tis.0.inject_ti",
        Rc::BadRequest,
    );
    let strength = |s| TextualInversion {
        strength: Some(s),
        ..ti("x")
    };
    rejects(
        validate_image_request(&image(|_, p| p.settings.tis = Some(vec![strength(-5.1)]))),
        "params.tis.0.strength",
        Rc::BadRequest,
    );
}

#[test]
fn image_source_and_controlnet_rules() {
    rejects(
        validate_image_request(&image(|r, _| r.source_mask = Some("mask".into()))),
        "source_mask",
        Rc::SourceMaskUnnecessary,
    );
    accepts(validate_image_request(&image(|r, _| {
        r.source_image = Some("img".into());
        r.source_mask = Some("mask".into());
        r.source_processing = Some(SourceProcessing::Inpainting);
    })));
    rejects(
        validate_image_request(&image(|r, _| r.source_processing = Some("sideways".into()))),
        "source_processing",
        Rc::BadRequest,
    );
    rejects(
        validate_image_request(&image(|_, p| {
            p.settings.control_type = Some(ControlType::Canny)
        })),
        "params.control_type",
        Rc::ControlNetSourceMissing,
    );
    accepts(validate_image_request(&image(|r, p| {
        r.source_image = Some("img".into());
        p.settings.control_type = Some(ControlType::Canny);
    })));
    rejects(
        validate_image_request(&image(|r, p| {
            r.source_image = Some("img".into());
            r.source_processing = Some(SourceProcessing::Inpainting);
            p.settings.control_type = Some(ControlType::Depth);
        })),
        "params.control_type",
        Rc::ControlNetInpaintingMismatch,
    );
    rejects(
        validate_image_request(&image(|r, p| {
            r.source_image = Some("img".into());
            p.settings.control_type = Some(ControlType::from("laser"));
        })),
        "params.control_type",
        Rc::BadRequest,
    );
    rejects(
        validate_image_request(&image(|r, p| {
            r.source_image = Some("img".into());
            p.settings.control_type = Some(ControlType::Canny);
            p.settings.image_is_control = Some(true);
            p.settings.return_control_map = Some(true);
        })),
        "params.return_control_map",
        Rc::ControlNetInvalidPayload,
    );
    let extra = |n| {
        (0..n)
            .map(|_| ExtraSourceImage {
                image: "i".into(),
                strength: None,
            })
            .collect::<Vec<_>>()
    };
    accepts(validate_image_request(&image(|r, _| {
        r.source_image = Some("img".into());
        r.source_processing = Some(SourceProcessing::Remix);
        r.options.extra_source_images = Some(extra(5));
    })));
    rejects(
        validate_image_request(&image(|r, _| {
            r.source_processing = Some(SourceProcessing::Remix);
            r.options.extra_source_images = Some(extra(6));
        })),
        "extra_source_images",
        Rc::TooManyExtraSourceImages,
    );
    rejects(
        validate_image_request(&image(|r, _| {
            r.options.extra_source_images = Some(extra(1))
        })),
        "extra_source_images",
        Rc::InvalidExtraSourceImages,
    );
    rejects(
        validate_image_request(&image(|r, _| {
            r.options.models = Some(vec!["RealESRGAN_x4plus".into()])
        })),
        "models.0",
        Rc::UnexpectedModelName,
    );
}

#[test]
fn webhook_rules() {
    accepts(validate_image_request(&image(|r, _| {
        r.options.webhook = Some("https://x.io".into())
    })));
    rejects(
        validate_image_request(&image(|r, _| {
            r.options.webhook = Some("http://example.com/hook".into())
        })),
        "webhook",
        Rc::BadRequest,
    );
    rejects(
        validate_text_request(&text(|r, _| r.options.webhook = Some("https://".into()))),
        "webhook",
        Rc::BadRequest,
    );
}

#[test]
fn a_plain_text_request_is_valid() {
    accepts(validate_text_request(&TextGenerateRequest::new("x")));
    accepts(validate_text_request(&text(|_, _| {})));
}

#[test]
fn text_prompt_and_source_rules() {
    rejects(
        validate_text_request(&TextGenerateRequest::new("")),
        "prompt",
        Rc::MissingPrompt,
    );
    rejects(
        validate_text_request(&TextGenerateRequest::new("\0")),
        "prompt",
        Rc::NulByteInPayload,
    );
    rejects(
        validate_text_request(&text(|r, _| {
            r.options.extra_source_images = Some(vec![ExtraSourceImage {
                image: "i".into(),
                strength: None,
            }])
        })),
        "extra_source_images",
        Rc::InvalidExtraSourceImages,
    );
}

#[test]
fn text_length_rules() {
    accepts(validate_text_request(&text(|_, p| {
        p.max_length = Some(16);
        p.max_context_length = Some(80);
    })));
    accepts(validate_text_request(&text(|_, p| {
        p.max_length = Some(4096);
        p.max_context_length = Some(1_048_576);
    })));
    rejects(
        validate_text_request(&text(|_, p| p.max_length = Some(15))),
        "params.max_length",
        Rc::BadRequest,
    );
    rejects(
        validate_text_request(&text(|_, p| p.max_length = Some(4097))),
        "params.max_length",
        Rc::BadRequest,
    );
    rejects(
        validate_text_request(&text(|_, p| p.max_context_length = Some(79))),
        "params.max_context_length",
        Rc::BadRequest,
    );
    rejects(
        validate_text_request(&text(|_, p| p.max_context_length = Some(1_048_577))),
        "params.max_context_length",
        Rc::BadRequest,
    );
    accepts(validate_text_request(&text(|_, p| {
        p.max_length = Some(512);
        p.max_context_length = Some(512);
    })));
    rejects(
        validate_text_request(&text(|_, p| {
            p.max_length = Some(513);
            p.max_context_length = Some(512);
        })),
        "params.max_length",
        Rc::TokenOverflow,
    );
    accepts(validate_text_request(&text(|_, p| p.n = Some(20))));
    rejects(
        validate_text_request(&text(|_, p| p.n = Some(21))),
        "params.n",
        Rc::BadRequest,
    );
    rejects(
        validate_text_request(&text(|_, p| p.n = Some(0))),
        "params.n",
        Rc::BadRequest,
    );
}

#[test]
fn text_sampling_ranges() {
    type Setter = fn(&mut TextParams, f64);
    let cases: Vec<(&str, Setter, f64, f64)> = vec![
        (
            "params.temperature",
            |p, v| p.temperature = Some(v),
            0.0,
            5.0,
        ),
        ("params.top_p", |p, v| p.top_p = Some(v), 0.001, 1.0),
        ("params.top_a", |p, v| p.top_a = Some(v), 0.0, 1.0),
        ("params.typical", |p, v| p.typical = Some(v), 0.0, 1.0),
        ("params.tfs", |p, v| p.tfs = Some(v), 0.0, 1.0),
        ("params.min_p", |p, v| p.min_p = Some(v), 0.0, 1.0),
        ("params.rep_pen", |p, v| p.rep_pen = Some(v), 1.0, 3.0),
        (
            "params.rep_pen_slope",
            |p, v| p.rep_pen_slope = Some(v),
            0.0,
            10.0,
        ),
        (
            "params.smoothing_factor",
            |p, v| p.smoothing_factor = Some(v),
            0.0,
            10.0,
        ),
        (
            "params.dynatemp_range",
            |p, v| p.dynatemp_range = Some(v),
            0.0,
            5.0,
        ),
        (
            "params.dynatemp_exponent",
            |p, v| p.dynatemp_exponent = Some(v),
            0.0,
            5.0,
        ),
    ];
    for (field, set, lo, hi) in cases {
        accepts(validate_text_request(&text(|_, p| set(p, lo))));
        accepts(validate_text_request(&text(|_, p| set(p, hi))));
        rejects(
            validate_text_request(&text(|_, p| set(p, lo - 0.0005))),
            field,
            Rc::BadRequest,
        );
        rejects(
            validate_text_request(&text(|_, p| set(p, hi + 0.5))),
            field,
            Rc::BadRequest,
        );
        rejects(
            validate_text_request(&text(|_, p| set(p, f64::INFINITY))),
            field,
            Rc::BadRequest,
        );
    }
    accepts(validate_text_request(&text(|_, p| p.top_k = Some(200))));
    rejects(
        validate_text_request(&text(|_, p| p.top_k = Some(201))),
        "params.top_k",
        Rc::BadRequest,
    );
    accepts(validate_text_request(&text(|_, p| {
        p.rep_pen_range = Some(4096)
    })));
    rejects(
        validate_text_request(&text(|_, p| p.rep_pen_range = Some(4097))),
        "params.rep_pen_range",
        Rc::BadRequest,
    );
}

#[test]
fn text_sampler_order_and_stop_sequences() {
    accepts(validate_text_request(&text(|_, p| {
        p.sampler_order = Some((0..7).collect())
    })));
    rejects(
        validate_text_request(&text(|_, p| {
            p.sampler_order = Some(vec![0, 1, 2, 3, 4, 5, 5])
        })),
        "params.sampler_order",
        Rc::MissingFullSamplerOrder,
    );
    accepts(validate_text_request(&text(|_, p| {
        p.stop_sequence = Some((0..128).map(|i| format!("s{i}")).collect())
    })));
    rejects(
        validate_text_request(&text(|_, p| {
            p.stop_sequence = Some((0..129).map(|i| format!("s{i}")).collect())
        })),
        "params.stop_sequence",
        Rc::TooManyStopSequences,
    );
    accepts(validate_text_request(&text(|_, p| {
        p.stop_sequence = Some(vec!["a".repeat(1000), "b".repeat(1000)])
    })));
    rejects(
        validate_text_request(&text(|_, p| {
            p.stop_sequence = Some(vec!["a".repeat(1000), "b".repeat(1001)])
        })),
        "params.stop_sequence",
        Rc::ExcessiveStopSequence,
    );
}

#[test]
fn interrogation_rules() {
    let form = |name: &str| InterrogationFormRequest {
        name: FormName::from(name),
        payload: None,
    };
    let req = |forms, image: &str| InterrogationRequest {
        forms,
        source_image: image.into(),
        ..InterrogationRequest::default()
    };
    accepts(validate_interrogation_request(&req(
        vec![form("caption"), form("GFPGAN")],
        "https://x/i.webp",
    )));
    rejects(
        validate_interrogation_request(&req(vec![], "https://x/i.webp")),
        "forms",
        Rc::BadRequest,
    );
    rejects(
        validate_interrogation_request(&req(vec![form("telepathy")], "https://x/i.webp")),
        "forms.0.name",
        Rc::BadRequest,
    );
    rejects(
        validate_interrogation_request(&req(vec![form("nsfw")], " ")),
        "source_image",
        Rc::ImageValidationFailed,
    );
}

#[test]
fn schema_failures_look_like_upstreams() {
    let err = validate_image_request(&image(|_, p| p.n = Some(0))).expect_err("rejected");
    let body = err.to_error_body();
    assert_eq!(body.message, "Input payload validation failed");
    assert!(body.errors.is_some_and(|e| e.contains_key("params.n")));
    let named = validate_image_request(&image(|_, p| p.steps = Some(900))).expect_err("rejected");
    assert_eq!(named.to_error_body().errors, None);
}
