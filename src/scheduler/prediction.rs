//! What the denoiser predicts, and the clean-sample estimate x0 from it: the
//! one formula every sampler shares (diffusers writes it in each scheduler).

/// What the denoiser network predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    Epsilon,
    V,
    X0,
    /// Rectified-flow velocity (noise - x0), as in diffusers' FlowMatch schedulers.
    Flow,
}

impl Prediction {
    /// The manifest spelling.
    pub fn name(self) -> &'static str {
        match self {
            Prediction::Epsilon => "epsilon",
            Prediction::V => "v",
            Prediction::X0 => "x0",
            Prediction::Flow => "flow",
        }
    }

    /// x0 from the model output `m` at sample `x = sqrt_alpha * x0 + sqrt_beta * eps`
    /// (the DDPM parameterisation: DDIM, LCM; `sqrt_beta = sqrt(1 - ᾱ)`).
    pub fn x0(self, x: f64, m: f64, sqrt_alpha: f64, sqrt_beta: f64) -> f64 {
        match self {
            Prediction::Epsilon => (x - sqrt_beta * m) / sqrt_alpha,
            Prediction::V => sqrt_alpha * x - sqrt_beta * m,
            Prediction::X0 => m,
            Prediction::Flow => unreachable!("flow prediction has no DDPM form; rejected when the scheduler is built"),
        }
    }

    /// x0 from the model output `m` at sample `x = x0 + sigma * eps` (the
    /// k-diffusion parameterisation of Euler; the model saw `x / sqrt(sigma² + 1)`).
    pub fn x0_sigma(self, x: f64, m: f64, sigma: f64) -> f64 {
        match self {
            Prediction::Epsilon => x - sigma * m,
            Prediction::V => m * (-sigma / (sigma * sigma + 1.0).sqrt()) + x * (1.0 / (sigma * sigma + 1.0)),
            Prediction::X0 => m,
            Prediction::Flow => unreachable!("flow prediction has no sigma form; rejected when the scheduler is built"),
        }
    }
}
