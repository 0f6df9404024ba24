//! LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") in PEFT's
//! layout: `y = W x + b + scale · B A dropout(x)`, the scale on the branch only.

mod adapter;
mod config;
mod fused_linear;
mod linear;

pub use adapter::{Adapter, Branch, LinearSpec, WrittenFile, CONFIG_FILE, WEIGHTS_FILE};
pub use config::{LoraConfig, ALL_LINEAR};
pub use linear::{LoraContext, LoraLinear};
