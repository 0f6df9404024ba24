//! Hone's model engine, on candle.
//!
//! - [`config`]: a Hugging Face `config.json`, normalised.
//! - [`llama`]: the Llama-family decoder (Llama 2/3, Mistral, Qwen2) with LoRA-capable projections.
//! - [`lora`]: adapters in PEFT's layout.
//! - [`loader`]: a Hugging Face model folder → [`LoadedModel`]; [`device`] picks where it runs.
//! - [`base_weight`]: a frozen projection weight, dense or a GGUF file's quantized blocks.
//! - [`tokenizer`], [`chat_template`]: text in and out.
//! - [`generate`] + [`sampling`]: generation with a KV cache; [`score`]: completion log-probs.
//! - [`gguf`]: llama.cpp's GGUF files imported as Hugging Face folders.
//! - [`tiny`]: tiny random models of the real format, for tests and first steps.
//! - [`thread_count`]: the CPU kernels' thread count, counted once per process.

pub mod base_weight;
mod block32_tiles;
pub mod cache;
pub mod chat_template;
mod checkpoint;
pub mod compute_priority;
pub mod config;
mod dequantize;
pub mod device;
mod error;
pub mod files;
mod finite;
pub mod frozen;
pub mod fused;
pub mod generate;
pub mod gguf;
pub mod llama;
pub mod loader;
pub mod lora;
pub mod norm;
mod q4_k_q5_k_kernel;
mod q4_q5_kernel;
mod q6_k_kernel;
mod q8_0_kernel;
mod quantized_columns;
mod released_weights;
pub mod rope;
pub mod sampling;
mod scoped_flag;
pub mod score;
#[cfg(test)]
mod test_tensors;
pub mod thread_count;
pub mod tiny;
pub mod tokenizer;
mod weights;

pub use cache::KvCache;
pub use config::Config;
pub use device::{DeviceChoice, DeviceInfo};
pub use error::{ModelError, Result};
pub use llama::Model;
pub use loader::LoadedModel;
