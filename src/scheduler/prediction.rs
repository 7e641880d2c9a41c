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

    /// The x0 estimate at noise level `sigma` in the k-diffusion
    /// parameterisation of Euler (`x = x0 + sigma * eps`; the model saw
    /// `x / sqrt(sigma² + 1)`), its coefficients computed once per step.
    pub fn at_sigma(self, sigma: f64) -> SigmaX0 {
        SigmaX0 {
            prediction: self,
            sigma,
            v_out: -sigma / (sigma * sigma + 1.0).sqrt(),
            v_skip: 1.0 / (sigma * sigma + 1.0),
        }
    }
}

/// [`Prediction::at_sigma`]: x0 from each element of one denoiser output.
#[derive(Debug, Clone, Copy)]
pub struct SigmaX0 {
    prediction: Prediction,
    sigma: f64,
    v_out: f64,
    v_skip: f64,
}

impl SigmaX0 {
    pub fn x0(&self, x: f64, m: f64) -> f64 {
        match self.prediction {
            Prediction::Epsilon => x - self.sigma * m,
            Prediction::V => m * self.v_out + x * self.v_skip,
            Prediction::X0 => m,
            Prediction::Flow => unreachable!("flow prediction has no sigma form; rejected when the scheduler is built"),
        }
    }
}
