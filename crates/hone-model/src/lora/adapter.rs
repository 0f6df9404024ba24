//! A LoRA adapter: one pair of low-rank matrices per targeted projection, kept in f32 as
//! `Var`s (the only tensors an optimiser sees), saved and loaded in PEFT's exact layout.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::LoraConfig;
use crate::files::{sha256_file, write_atomically, write_safetensors};
use crate::{ModelError, Result};

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// A linear projection an adapter can target: its module path (as in the checkpoint, e.g.
/// `model.layers.0.self_attn.q_proj`), its module name (`q_proj`) and its sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearSpec {
    pub path: String,
    pub module: &'static str,
    pub in_dim: usize,
    pub out_dim: usize,
}

/// `A` is `[r, in]`, `B` is `[out, r]`; the branch adds `scale · B(A(x))`.
#[derive(Debug, Clone)]
pub struct Branch {
    pub a: Var,
    pub b: Var,
}

#[derive(Debug)]
pub struct Adapter {
    pub name: String,
    pub config: LoraConfig,
    branches: BTreeMap<String, Branch>,
}

/// A file written for an adapter, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
}

fn peft_key(path: &str, matrix: &str) -> String {
    format!("base_model.model.{path}.lora_{matrix}.weight")
}

/// A config that lists module paths (PEFT writes "all-linear" so) must list every layer's
/// module of each kind it targets: Hone's adapters target kinds, not single layers.
fn check_listed_paths(
    config_path: &Path,
    config: &LoraConfig,
    listed: &[String],
    targets: &[LinearSpec],
) -> Result<()> {
    if listed.is_empty() {
        return Ok(());
    }
    let invalid = |message: String| ModelError::Config {
        path: config_path.to_owned(),
        field: "target_modules".into(),
        message,
    };
    // PEFT matches an entry to the module of that name or whose name ends with ".entry".
    let matches = |spec: &LinearSpec, entry: &str| {
        spec.path == entry || spec.path.ends_with(&format!(".{entry}"))
    };
    if let Some(unknown) = listed
        .iter()
        .find(|e| !targets.iter().any(|s| matches(s, e)))
    {
        return Err(invalid(format!(
            "{unknown:?} is not a module of this model"
        )));
    }
    let left_out: Vec<&str> = targets
        .iter()
        .filter(|s| config.target_modules.iter().any(|t| t == s.module))
        .filter(|s| !listed.iter().any(|e| matches(s, e)))
        .map(|s| s.path.as_str())
        .collect();
    if let Some(first) = left_out.first() {
        return Err(invalid(format!(
            "targets some layers' modules but not {} others ({first}, …); adapters on part of the layers are not supported",
            left_out.len()
        )));
    }
    Ok(())
}

impl Adapter {
    /// A fresh adapter, initialised as PEFT does: A ~ U(−1/√in, 1/√in) (kaiming-uniform with
    /// a = √5), B = 0, so it starts as the identity of the base model.
    pub fn new(
        name: &str,
        config: LoraConfig,
        targets: &[LinearSpec],
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut branches = BTreeMap::new();
        for spec in targets
            .iter()
            .filter(|s| config.target_modules.iter().any(|t| t == s.module))
        {
            let bound = 1.0 / (spec.in_dim as f32).sqrt();
            let a: Vec<f32> = (0..config.r * spec.in_dim)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            let a = Var::from_tensor(&Tensor::from_vec(a, (config.r, spec.in_dim), device)?)?;
            let b = Var::zeros((spec.out_dim, config.r), DType::F32, device)?;
            branches.insert(spec.path.clone(), Branch { a, b });
        }
        if branches.is_empty() {
            return Err(ModelError::Adapter {
                name: name.into(),
                message: "no projection of the model is targeted".into(),
            });
        }
        Ok(Self {
            name: name.into(),
            config,
            branches,
        })
    }

    /// A copy with its own variables (a frozen reference: the SFT stage's result that DPO
    /// then measures against).
    pub fn duplicate(&self, name: &str) -> Result<Self> {
        let mut branches = BTreeMap::new();
        for (path, b) in &self.branches {
            branches.insert(
                path.clone(),
                Branch {
                    a: Var::from_tensor(&b.a.as_tensor().copy()?)?,
                    b: Var::from_tensor(&b.b.as_tensor().copy()?)?,
                },
            );
        }
        Ok(Self {
            name: name.into(),
            config: self.config.clone(),
            branches,
        })
    }

    /// The branches of the projections under `paths`, sharing this adapter's variables (their
    /// gradients are this adapter's): what one decoder layer applies.
    pub(crate) fn subset<'p>(&self, paths: impl IntoIterator<Item = &'p str>) -> Self {
        let branches = paths
            .into_iter()
            .filter_map(|p| self.branches.get(p).map(|b| (p.to_string(), b.clone())))
            .collect();
        Self {
            name: self.name.clone(),
            config: self.config.clone(),
            branches,
        }
    }

    pub fn branch(&self, path: &str) -> Option<&Branch> {
        self.branches.get(path)
    }

    pub fn branches(&self) -> impl Iterator<Item = (&String, &Branch)> {
        self.branches.iter()
    }

    /// The trainable variables (every A and B), in a fixed order.
    pub fn vars(&self) -> Vec<Var> {
        self.branches
            .values()
            .flat_map(|b| [b.a.clone(), b.b.clone()])
            .collect()
    }

    /// The trainable variables under PEFT's key names, in a fixed order.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        self.branches
            .iter()
            .flat_map(|(path, b)| {
                [
                    (peft_key(path, "A"), b.a.clone()),
                    (peft_key(path, "B"), b.b.clone()),
                ]
            })
            .collect()
    }

    /// The adapter's tensors under PEFT's key names.
    pub fn peft_tensors(&self) -> Result<BTreeMap<String, Tensor>> {
        let mut out = BTreeMap::new();
        for (path, branch) in &self.branches {
            out.insert(
                peft_key(path, "A"),
                branch.a.as_tensor().to_dtype(DType::F32)?,
            );
            out.insert(
                peft_key(path, "B"),
                branch.b.as_tensor().to_dtype(DType::F32)?,
            );
        }
        Ok(out)
    }

    /// Writes `adapter_config.json` and `adapter_model.safetensors` into `dir` (each to a
    /// temporary name, then renamed) and returns them with their sha256.
    pub fn save_peft(&self, dir: &Path, base_model_name_or_path: &str) -> Result<Vec<WrittenFile>> {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::file(dir, e))?;
        let config = serde_json::to_vec_pretty(&self.config.to_peft_json(base_model_name_or_path))
            .expect("JSON");
        let tensors = self
            .peft_tensors()?
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?)))
            .collect::<Result<Vec<(String, Tensor)>>>()?;
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        write_atomically(&dir.join(CONFIG_FILE), &config)?;
        let mut written = vec![WrittenFile {
            name: CONFIG_FILE.into(),
            sha256: hex::encode(Sha256::digest(&config)),
            bytes: config.len() as u64,
        }];
        let weights_path = dir.join(WEIGHTS_FILE);
        write_safetensors(
            &weights_path,
            tensors.iter().map(|(k, t)| (k.as_str(), t)),
            Some(metadata),
        )?;
        written.push(WrittenFile {
            name: WEIGHTS_FILE.into(),
            sha256: sha256_file(&weights_path)?,
            bytes: std::fs::metadata(&weights_path)
                .map_err(|e| ModelError::file(&weights_path, e))?
                .len(),
        });
        Ok(written)
    }

    /// Loads a PEFT adapter folder for a model whose projections are `targets`. Every key the
    /// config implies must be there with the right shape, and no other key may be: PEFT itself
    /// would silently ignore a misnamed key and apply nothing.
    pub fn load_peft(
        name: &str,
        dir: &Path,
        targets: &[LinearSpec],
        device: &Device,
    ) -> Result<Self> {
        let config_path = dir.join(CONFIG_FILE);
        // Read once: the config, and the module paths it may list.
        let json = super::config::read_peft_json(&config_path)?;
        let config = LoraConfig::from_peft_json(&config_path, &json)?;
        let listed = super::config::listed_module_paths(&json);
        check_listed_paths(&config_path, &config, &listed, targets)?;
        let weights_path = dir.join(WEIGHTS_FILE);
        if !weights_path.is_file() {
            return Err(ModelError::file(&weights_path, "is missing"));
        }
        let mut tensors = candle_core::safetensors::load(&weights_path, device).map_err(|e| {
            ModelError::file(
                &weights_path,
                format!("not a readable safetensors file: {e}"),
            )
        })?;
        let mut branches = BTreeMap::new();
        for spec in targets
            .iter()
            .filter(|s| config.target_modules.iter().any(|t| t == s.module))
        {
            let mut take = |matrix: &str, shape: (usize, usize)| -> Result<Var> {
                let key = peft_key(&spec.path, matrix);
                let t = tensors
                    .remove(&key)
                    .ok_or_else(|| ModelError::MissingTensor {
                        name: key.clone(),
                        path: weights_path.clone(),
                    })?;
                if t.dims() != [shape.0, shape.1] {
                    return Err(ModelError::Shape {
                        name: key,
                        expected: vec![shape.0, shape.1],
                        found: t.dims().to_vec(),
                    });
                }
                if crate::finite::tensor_has_non_finite(&t)? {
                    return Err(ModelError::Adapter {
                        name: name.into(),
                        message: format!(
                            "{}: tensor {key} holds NaN or infinite values",
                            weights_path.display()
                        ),
                    });
                }
                Ok(Var::from_tensor(&t.to_dtype(DType::F32)?)?)
            };
            let a = take("A", (config.r, spec.in_dim))?;
            let b = take("B", (spec.out_dim, config.r))?;
            branches.insert(spec.path.clone(), Branch { a, b });
        }
        if !tensors.is_empty() {
            let mut unexpected: Vec<_> = tensors.into_keys().collect();
            unexpected.sort();
            return Err(ModelError::Adapter {
                name: name.into(),
                message: format!(
                    "{} holds tensors this model has no place for: {}",
                    weights_path.display(),
                    unexpected.join(", ")
                ),
            });
        }
        if branches.is_empty() {
            return Err(ModelError::Adapter {
                name: name.into(),
                message: "targets no projection of this model".into(),
            });
        }
        Ok(Self {
            name: name.into(),
            config,
            branches,
        })
    }
}
