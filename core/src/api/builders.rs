//! Chainable setters for the request types, so a caller writes
//! `ImageGenerateRequest::new("a potion").size(768, 512).n(2)` instead of
//! nesting `Option`s. Each sets one wire field and leaves the others unset
//! (upstream's defaults apply); nothing is checked here —
//! [`super::validate`] does that, and every client validates before sending.

use super::{
    ImageGenerateRequest, ImageParams, RequestOptions, Sampler, TextGenerateRequest, TextParams,
};

fn add_model(options: &mut RequestOptions, model: String) {
    options.models.get_or_insert_with(Vec::new).push(model);
}

impl ImageGenerateRequest {
    fn params_mut(&mut self) -> &mut ImageParams {
        self.params.get_or_insert_with(ImageParams::default)
    }

    /// Width and height in pixels (multiples of 64, 64 to 3072).
    #[must_use]
    pub fn size(mut self, width: u32, height: u32) -> Self {
        let s = &mut self.params_mut().settings;
        (s.width, s.height) = (Some(width), Some(height));
        self
    }

    /// How many images (1 to 20).
    #[must_use]
    pub fn n(mut self, n: u32) -> Self {
        self.params_mut().n = Some(n);
        self
    }

    /// Sampling steps (1 to 500).
    #[must_use]
    pub fn steps(mut self, steps: u32) -> Self {
        self.params_mut().steps = Some(steps);
        self
    }

    /// The seed (any text; the horde hashes it).
    #[must_use]
    pub fn seed(mut self, seed: impl Into<String>) -> Self {
        self.params_mut().settings.seed = Some(seed.into());
        self
    }

    /// The sampler.
    #[must_use]
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.params_mut().settings.sampler_name = Some(sampler);
        self
    }

    /// Classifier-free guidance (0 to 100).
    #[must_use]
    pub fn cfg_scale(mut self, cfg_scale: f64) -> Self {
        self.params_mut().settings.cfg_scale = Some(cfg_scale);
        self
    }

    /// Adds `model` to the acceptable models (none named: any model).
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        add_model(&mut self.options, model.into());
        self
    }

    /// Whether NSFW images are allowed (unset, upstream reads `true`, which
    /// a worker with `nsfw = false` skips).
    #[must_use]
    pub fn allow_nsfw(mut self, nsfw: bool) -> Self {
        self.nsfw = Some(nsfw);
        self
    }

    /// What the image must not show: sent after `###` in the prompt, as
    /// upstream reads it.
    #[must_use]
    pub fn negative(mut self, negative: impl AsRef<str>) -> Self {
        self.prompt = format!("{} ### {}", self.prompt, negative.as_ref());
        self
    }
}

impl TextGenerateRequest {
    fn params_mut(&mut self) -> &mut TextParams {
        self.params.get_or_insert_with(TextParams::default)
    }

    /// Most tokens to generate (16 to 1024).
    #[must_use]
    pub fn max_length(mut self, tokens: u32) -> Self {
        self.params_mut().max_length = Some(tokens);
        self
    }

    /// Most tokens of context the model may read (80 to 32000).
    #[must_use]
    pub fn max_context_length(mut self, tokens: u32) -> Self {
        self.params_mut().max_context_length = Some(tokens);
        self
    }

    /// Sampling temperature (0 to 5).
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.params_mut().temperature = Some(temperature);
        self
    }

    /// How many texts (1 to 20).
    #[must_use]
    pub fn n(mut self, n: u32) -> Self {
        self.params_mut().n = Some(n);
        self
    }

    /// Adds `model` to the acceptable models (none named: any model).
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        add_model(&mut self.options, model.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate;
    use super::*;

    #[test]
    fn the_setters_send_exactly_what_they_set() {
        let req = ImageGenerateRequest::new("a potion")
            .size(768, 512)
            .n(2)
            .steps(20)
            .seed("7")
            .sampler(Sampler::KEulerA)
            .cfg_scale(6.5)
            .model("stable_diffusion")
            .allow_nsfw(false)
            .negative("blur");
        validate::validate_image_request(&req).expect("valid");
        assert_eq!(
            serde_json::to_value(&req).expect("json"),
            serde_json::json!({
                "prompt": "a potion ### blur",
                "params": {"sampler_name": "k_euler_a", "cfg_scale": 6.5, "seed": "7",
                           "height": 512, "width": 768, "steps": 20, "n": 2},
                "models": ["stable_diffusion"],
                "nsfw": false
            })
        );
        let text = TextGenerateRequest::new("Once")
            .max_length(64)
            .max_context_length(1024)
            .temperature(0.7)
            .n(3)
            .model("koboldcpp/x");
        validate::validate_text_request(&text).expect("valid");
        let params = text.params();
        assert_eq!(
            (params.max_length, params.max_context_length, params.n),
            (Some(64), Some(1024), Some(3))
        );
        assert_eq!(text.models(), ["koboldcpp/x"]);
        assert!(
            validate::validate_text_request(&TextGenerateRequest::new("x").max_length(5000))
                .is_err(),
            "the setters check nothing; validation does"
        );
    }
}
