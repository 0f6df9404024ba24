//! GGUF in and out on the fixture models: a folder exported to GGUF and imported back gives
//! transformers' logits again (so export and import agree on names, layout and Q/K order);
//! quantized exports stay close; LoRA adapters are written in llama.cpp's layout; bad files
//! are refused naming what is wrong, with nothing left in the output folder. The check against
//! a GGUF written by llama.cpp itself is `tests/smollm2.rs` (the real-model tier).

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Tensor};
use hone_model::gguf::{
    export_lora_gguf, export_model_gguf, import_gguf, model_folder, GgufFile, GgufQuant, GgufSource,
};
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::{DeviceInfo, LoadedModel};

use crate::{expected, max_diff_masked, model_dir, PARITY_TOL};

fn exported(name: &str, quant: GgufQuant, dir: &Path) -> PathBuf {
    let file = dir.join(format!("{name}.gguf"));
    export_model_gguf(&model_dir(name), &file, quant, name)
        .unwrap_or_else(|e| panic!("export {name}: {e}"));
    file
}

fn logits_diff(folder: &Path, reference: &str) -> f32 {
    let lm = LoadedModel::load(folder, DeviceInfo::cpu("tests"))
        .unwrap_or_else(|e| panic!("load {}: {e}", folder.display()));
    let exp = expected(model_dir(reference).join("expected.safetensors"));
    let ids = exp["input_ids"].to_dtype(DType::U32).unwrap();
    let logits = lm.model.forward(&ids, &LoraContext::default()).unwrap();
    max_diff_masked(&logits, &exp["logits"], Some(&exp["attention_mask"]))
}

#[test]
fn an_f32_round_trip_through_gguf_gives_transformers_logits_for_llama_and_qwen2() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "tiny-llama",
        "tiny-qwen2",
        "tiny-mistral",
        "tiny-llama3-tied",
    ] {
        let file = exported(name, GgufQuant::F32, tmp.path());
        let folder = tmp.path().join(format!("{name}-imported"));
        let report = import_gguf(&file, &folder).unwrap_or_else(|e| panic!("import {name}: {e}"));
        let diff = logits_diff(&folder, name);
        println!("{name}: export → import, max |Δlogit| vs transformers = {diff:e}");
        assert!(
            diff < PARITY_TOL,
            "{name}: the round trip changed the logits by {diff}"
        );

        let original = hone_model::Config::from_file(&model_dir(name).join("config.json")).unwrap();
        let imported = hone_model::Config::from_file(&folder.join("config.json")).unwrap();
        assert_eq!(
            imported.tie_word_embeddings, original.tie_word_embeddings,
            "{name}: tying comes from output.weight's absence"
        );
        assert_eq!(
            imported.qkv_bias, original.qkv_bias,
            "{name}: biases survive"
        );
        assert_eq!(
            (imported.num_attention_heads, imported.num_key_value_heads),
            (original.num_attention_heads, original.num_key_value_heads)
        );
        assert_eq!(
            report.source.sha256,
            hone_model::gguf::sha256_file(&file).unwrap(),
            "provenance names the source file's sha256"
        );
        assert_eq!(
            GgufSource::read(&folder)
                .expect("gguf_source.json")
                .file_name,
            format!("{name}.gguf")
        );

        // The tokenizer rebuilt from tokenizer.ggml.* encodes as the original tokenizer.json does.
        let a = LoadedModel::load(&model_dir(name), DeviceInfo::cpu("tests")).unwrap();
        let b = LoadedModel::load(&folder, DeviceInfo::cpu("tests")).unwrap();
        for text in [
            "Hello there, how are you?",
            "<|im_start|>user\nx<|im_end|>",
            "numbers 12345 and  spaces\n\ttabs",
        ] {
            assert_eq!(
                b.tokenizer.encode(text, false).unwrap(),
                a.tokenizer.encode(text, false).unwrap(),
                "{name}: ids of {text:?}"
            );
        }
        assert_eq!(
            b.eos_token_ids, a.eos_token_ids,
            "{name}: the same end-of-turn tokens stop generation"
        );
        assert!(
            b.chat_template.is_some(),
            "{name}: the chat template travels in tokenizer.chat_template"
        );
    }
}

#[test]
fn quantized_exports_stay_close_and_rows_that_do_not_fill_blocks_stay_f16() {
    let tmp = tempfile::tempdir().unwrap();
    let f32_size = std::fs::metadata(exported("tiny-llama", GgufQuant::F32, tmp.path()))
        .unwrap()
        .len();
    // The fixture's random weights amplify weight error about 100× into the logits (which span
    // about 9 units); coarser types must err more, and within bounds.
    let mut previous = 0f32;
    for (quant, tolerance) in [
        (GgufQuant::F16, 0.05),
        (GgufQuant::Q8_0, 0.3),
        (GgufQuant::Q4_0, 6.0),
    ] {
        let dir = tmp.path().join(format!("{quant:?}"));
        let file = exported("tiny-llama", quant, &dir);
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(
            size < f32_size,
            "{quant:?} ({size} bytes) must be smaller than f32 ({f32_size})"
        );
        let folder = dir.join("imported");
        import_gguf(&file, &folder).unwrap();
        let diff = logits_diff(&folder, "tiny-llama");
        println!("tiny-llama {quant:?}: {size} bytes (f32 {f32_size}), max |Δlogit| = {diff:e}");
        assert!(
            diff > previous && diff < tolerance,
            "{quant:?}: max |Δlogit| {diff} should be above {previous} and below {tolerance}"
        );
        previous = diff;
    }
    // Q4_K blocks hold 256 values: the tiny model's 64-wide rows cannot be quantized so.
    let report = export_model_gguf(
        &model_dir("tiny-llama"),
        &tmp.path().join("k.gguf"),
        GgufQuant::Q4K,
        "k",
    )
    .unwrap();
    assert!(
        report.kept_f16.contains(&"blk.0.attn_q.weight".to_string()),
        "kept in f16: {:?}",
        report.kept_f16
    );
}

#[test]
fn a_lora_adapter_is_written_in_llama_cpp_layout_with_b_permuted_for_q_and_k() {
    let lm = crate::load("tiny-llama");
    let config = LoraConfig::new(
        4,
        8.0,
        0.0,
        &["q_proj", "k_proj", "v_proj", "down_proj"],
        false,
    )
    .unwrap();
    let adapter = Adapter::new("test", config, &lm.model.linear_specs(), 7, &Device::Cpu).unwrap();
    // PEFT starts B at zero; give it values so the permutation shows.
    for (_, branch) in adapter.branches() {
        let shape = branch.b.as_tensor().shape().clone();
        branch
            .b
            .set(&Tensor::randn(0f32, 1.0, shape, &Device::Cpu).unwrap())
            .unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("adapter.gguf");
    export_lora_gguf(&adapter, lm.model.config(), &file).unwrap();

    let gguf = GgufFile::open(&file).unwrap();
    assert_eq!(gguf.string("general.type").unwrap(), "adapter");
    assert_eq!(gguf.string("adapter.type").unwrap(), "lora");
    assert_eq!(gguf.string("general.architecture").unwrap(), "llama");
    assert_eq!(gguf.opt_f64("adapter.lora.alpha").unwrap(), Some(8.0));
    assert_eq!(
        gguf.tensor_names().len(),
        2 * 4 * 2,
        "A and B for 4 modules in 2 layers"
    );
    let (heads, kv_heads) = (
        lm.model.config().num_attention_heads,
        lm.model.config().num_key_value_heads,
    );
    for (module, gguf_module, heads) in [
        ("q_proj", "attn_q", Some(heads)),
        ("k_proj", "attn_k", Some(kv_heads)),
        ("v_proj", "attn_v", None),
    ] {
        let branch = adapter
            .branch(&format!("model.layers.1.self_attn.{module}"))
            .unwrap();
        let a = gguf
            .dequantized(&format!("blk.1.{gguf_module}.weight.lora_a"))
            .unwrap();
        let b = gguf
            .dequantized(&format!("blk.1.{gguf_module}.weight.lora_b"))
            .unwrap();
        assert_eq!(a.dims(), branch.a.as_tensor().dims(), "lora_a is [r, in]");
        assert_eq!(
            crate::max_diff(&a, branch.a.as_tensor()),
            0.0,
            "{module}: A is written as is"
        );
        let b_back = match heads {
            Some(h) => hone_model::gguf::permute::from_gguf(&b, h).unwrap(),
            None => b.clone(),
        };
        assert_eq!(
            crate::max_diff(&b_back, branch.b.as_tensor()),
            0.0,
            "{module}: B's rows are in llama.cpp's order"
        );
        if heads.is_some() {
            assert!(
                crate::max_diff(&b, branch.b.as_tensor()) > 0.0,
                "{module}: B must be permuted for llama.cpp"
            );
        }
    }
}

/// Rewrites a GGUF file with its metadata and tensors edited.
fn rewrite(
    src: &Path,
    dst: &Path,
    edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<(String, QTensor)>),
) {
    let mut reader = std::fs::File::open(src).unwrap();
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let mut metadata: Vec<(String, Value)> = content.metadata.clone().into_iter().collect();
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = names
        .into_iter()
        .map(|n| {
            (
                n.clone(),
                content.tensor(&mut reader, n, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    edit(&mut metadata, &mut tensors);
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut out = std::fs::File::create(dst).unwrap();
    gguf_file::write(&mut out, &md, &ts).unwrap();
}

fn import_error(file: &Path) -> String {
    let parent = file.parent().unwrap();
    let out = parent.join("out");
    let err = import_gguf(file, &out)
        .expect_err("the import must be refused")
        .to_string();
    assert!(
        !out.exists(),
        "nothing may be left at --out after a refused import ({err})"
    );
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".hone"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no staging folder may be left behind: {leftovers:?}"
    );
    err
}

#[test]
fn bad_files_are_refused_naming_the_key_or_tensor_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let good = exported("tiny-llama", GgufQuant::Q8_0, tmp.path());
    let case = |name: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("model.gguf")
    };

    // Not GGUF: refused on its first four bytes.
    let not_gguf = case("not-gguf");
    std::fs::write(&not_gguf, b"{\"this is\": \"json\"}").unwrap();
    let err = import_error(&not_gguf);
    assert!(err.contains("is not a GGUF file"), "{err}");

    // Truncated: the tensor table points past the end.
    let truncated = case("truncated");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = import_error(&truncated);
    assert!(err.contains("truncated"), "{err}");

    // Truncated inside the header.
    let header_cut = case("header-cut");
    std::fs::write(&header_cut, &bytes[..200]).unwrap();
    let err = import_error(&header_cut);
    assert!(err.contains("GGUF header"), "{err}");

    let unknown_arch = case("unknown-arch");
    rewrite(&good, &unknown_arch, |md, _| {
        md.iter_mut()
            .find(|(k, _)| k == "general.architecture")
            .unwrap()
            .1 = Value::String("gpt2".into());
    });
    let err = import_error(&unknown_arch);
    assert!(
        err.contains("general.architecture") && err.contains("gpt2") && err.contains("llama"),
        "{err}"
    );

    let missing_key = case("missing-key");
    rewrite(&good, &missing_key, |md, _| {
        md.retain(|(k, _)| k != "llama.block_count")
    });
    let err = import_error(&missing_key);
    assert!(
        err.contains("llama.block_count") && err.contains("missing"),
        "{err}"
    );

    let wrong_shape = case("wrong-shape");
    rewrite(&good, &wrong_shape, |md, _| {
        md.iter_mut()
            .find(|(k, _)| k == "llama.feed_forward_length")
            .unwrap()
            .1 = Value::U32(128);
    });
    let err = import_error(&wrong_shape);
    assert!(
        err.contains("blk.0.ffn_down.weight") || err.contains("blk.0.ffn_gate.weight"),
        "{err}"
    );
    assert!(err.contains("feed_forward_length"), "{err}");

    let missing_tensor = case("missing-tensor");
    rewrite(&good, &missing_tensor, |_, ts| {
        ts.retain(|(n, _)| n != "blk.1.attn_v.weight")
    });
    let err = import_error(&missing_tensor);
    assert!(err.contains("blk.1.attn_v.weight"), "{err}");

    let unknown_tensor = case("unknown-tensor");
    rewrite(&good, &unknown_tensor, |_, ts| {
        let extra = QTensor::quantize(
            &Tensor::zeros(8, DType::F32, &Device::Cpu).unwrap(),
            candle_core::quantized::GgmlDType::F32,
        )
        .unwrap();
        ts.push(("blk.0.attn_sinks.weight".into(), extra));
    });
    let err = import_error(&unknown_tensor);
    assert!(err.contains("blk.0.attn_sinks.weight"), "{err}");

    let sentencepiece = case("sentencepiece");
    rewrite(&good, &sentencepiece, |md, _| {
        md.iter_mut()
            .find(|(k, _)| k == "tokenizer.ggml.model")
            .unwrap()
            .1 = Value::String("llama".into());
    });
    let err = import_error(&sentencepiece);
    assert!(
        err.contains("tokenizer.ggml.model") && err.contains("not supported yet"),
        "{err}"
    );

    let nan = case("nan");
    rewrite(&good, &nan, |_, ts| {
        let t = ts
            .iter_mut()
            .find(|(n, _)| n == "output_norm.weight")
            .unwrap();
        let mut values = vec![1f32; 64];
        values[5] = f32::NAN;
        t.1 = QTensor::quantize(
            &Tensor::new(values, &Device::Cpu).unwrap(),
            candle_core::quantized::GgmlDType::F32,
        )
        .unwrap();
    });
    let err = import_error(&nan);
    assert!(
        err.contains("output_norm.weight") && err.contains("non-finite"),
        "{err}"
    );

    // An unknown tensor type: patch the type id of one tensor in the table to 99.
    let bad_type = case("bad-type");
    let mut patched = bytes.clone();
    let name = b"output_norm.weight";
    let at = patched
        .windows(name.len())
        .position(|w| w == name)
        .expect("name in the table")
        + name.len();
    let dims = u32::from_le_bytes(patched[at..at + 4].try_into().unwrap()) as usize;
    let type_at = at + 4 + 8 * dims;
    patched[type_at..type_at + 4].copy_from_slice(&99u32.to_le_bytes());
    std::fs::write(&bad_type, &patched).unwrap();
    let err = import_error(&bad_type);
    assert!(err.contains("dtype") && err.contains("99"), "{err}");

    // A non-empty --out is never overwritten.
    let occupied = tmp.path().join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::write(occupied.join("keep.txt"), "mine").unwrap();
    let err = import_gguf(&good, &occupied)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(occupied.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn a_gguf_path_resolves_to_one_cached_import_keyed_by_its_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    let file = exported("tiny-qwen2", GgufQuant::F16, tmp.path());
    let cache = tmp.path().join("cache");
    let first = model_folder(&file, &cache).unwrap();
    let sha = hone_model::gguf::sha256_file(&file).unwrap();
    assert_eq!(
        first,
        cache.join(&sha),
        "the cache folder is named by the file's sha256"
    );
    let stamp = std::fs::metadata(first.join("model.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    let second = model_folder(&file, &cache).unwrap();
    assert_eq!(second, first);
    assert_eq!(
        std::fs::metadata(second.join("model.safetensors"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp,
        "not imported twice"
    );
    assert_eq!(
        model_folder(&model_dir("tiny-qwen2"), &cache).unwrap(),
        model_dir("tiny-qwen2"),
        "a folder is itself"
    );
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let err = model_folder(&text, &cache).unwrap_err().to_string();
    assert!(
        err.contains("neither a model folder nor a GGUF file"),
        "{err}"
    );
}

/// Every tensor type llama.cpp files use dequantizes on import: a random model with 256-wide rows
/// (a K-quant block) written with its matrices in each type gives logits near the f32 model's,
/// dequantized and run from the file's blocks alike.
#[test]
fn every_quantized_type_llama_cpp_writes_imports() {
    use candle_core::quantized::GgmlDType;
    use hone_model::tiny::{train_tokenizer, write_model_folder, TinyArch, TinySize, CORPUS};
    let tmp = tempfile::tempdir().unwrap();
    let tokenizer = train_tokenizer(CORPUS.lines(), 512).unwrap();
    let size = TinySize {
        hidden: 256,
        intermediate: 512,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        vocab: tokenizer.get_vocab_size(true),
        max_positions: 256,
        tie_embeddings: false,
    };
    let folder = tmp.path().join("wide");
    write_model_folder(TinyArch::Llama, size, &tokenizer, &folder, 3, "wide").unwrap();
    let f32_file = tmp.path().join("wide-f32.gguf");
    export_model_gguf(&folder, &f32_file, GgufQuant::F32, "wide").unwrap();

    let reference = LoadedModel::load(&folder, DeviceInfo::cpu("tests")).unwrap();
    let ids = Tensor::new(&[[5u32, 80, 17, 200, 33, 9, 140, 61]], &Device::Cpu).unwrap();
    let expected = reference
        .model
        .forward(&ids, &LoraContext::default())
        .unwrap();
    let scale = expected
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let mut errors = Vec::new();
    for dtype in [
        GgmlDType::F16,
        GgmlDType::BF16,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q2K,
        GgmlDType::Q3K,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ] {
        let file = tmp.path().join(format!("wide-{dtype:?}.gguf"));
        rewrite(&f32_file, &file, |_, tensors| {
            for (name, t) in tensors.iter_mut() {
                if t.shape().rank() == 2 {
                    let values = t.dequantize(&Device::Cpu).unwrap();
                    *t = QTensor::quantize(&values, dtype)
                        .unwrap_or_else(|e| panic!("{name} as {dtype:?}: {e}"));
                }
            }
        });
        let out = tmp.path().join(format!("imported-{dtype:?}"));
        let report = import_gguf(&file, &out).unwrap_or_else(|e| panic!("{dtype:?}: {e}"));
        assert_eq!(
            report.source.tensor_types.get(&format!("{dtype:?}")),
            Some(&(2 * 7 + 2)),
            "{dtype:?}: 14 projections, the embedding and the LM head"
        );
        let lm = LoadedModel::load(&out, DeviceInfo::cpu("tests")).unwrap();
        let logits = lm.model.forward(&ids, &LoraContext::default()).unwrap();
        let diff = crate::max_diff(&logits, &expected);
        println!("{dtype:?}: max |Δlogit| vs f32 = {diff:e} (logits up to {scale})");
        // Relative to the logits' size: half-precision types nearly exact, 8-bit close, 2- to
        // 6-bit blocks coarser but far from noise.
        let tolerance = match dtype {
            GgmlDType::F16 | GgmlDType::BF16 => 0.02,
            GgmlDType::Q8_0 => 0.05,
            // 2- and 3-bit blocks on random Gaussian weights: coarse, but below the logits' size.
            GgmlDType::Q2K | GgmlDType::Q3K => 1.0,
            _ => 0.4,
        } * scale;
        errors.push((dtype, diff));
        assert!(
            diff > 0.0 && diff < tolerance,
            "{dtype:?}: max |Δlogit| {diff}, tolerance {tolerance}"
        );
        if !matches!(dtype, GgmlDType::F16 | GgmlDType::BF16) {
            // Run from the file's blocks, as generation loads it: 8 rows take the quantized
            // kernels (Hone's for every type but Q2_K and Q3_K on x86 with AVX2), the
            // activations rounded to 8 bits besides the weights' own rounding.
            let quantized =
                LoadedModel::load_for_inference(&out, DeviceInfo::cpu("tests")).unwrap();
            assert!(quantized.model.is_quantized(), "{dtype:?}");
            let logits = quantized
                .model
                .forward(&ids, &LoraContext::default())
                .unwrap();
            let from_blocks = crate::max_diff(&logits, &expected);
            println!("{dtype:?} from the blocks: max |Δlogit| vs f32 = {from_blocks:e}");
            assert!(
                from_blocks > 0.0 && from_blocks < tolerance,
                "{dtype:?} from the blocks: max |Δlogit| {from_blocks}, tolerance {tolerance}"
            );
        }
    }
    let error_of = |t: GgmlDType| errors.iter().find(|(d, _)| *d == t).expect("measured").1;
    assert!(
        error_of(GgmlDType::Q8_0) < error_of(GgmlDType::Q4_0),
        "8 bits err less than 4"
    );
    assert!(
        error_of(GgmlDType::Q6K) < error_of(GgmlDType::Q2K),
        "6-bit K-quants err less than 2-bit"
    );
}

/// Llama 3.1-style RoPE scaling travels as llama.cpp stores it (`rope_freqs.weight`) and comes
/// back as the config's `rope_scaling`: transformers' logits at positions past the original
/// context again; factors no Llama 3 scaling explains are refused.
#[test]
fn llama3_rope_scaling_round_trips_through_rope_freqs() {
    let tmp = tempfile::tempdir().unwrap();
    let file = exported("tiny-llama3-tied", GgufQuant::F32, tmp.path());
    let gguf = GgufFile::open(&file).unwrap();
    let factors = gguf
        .dequantized("rope_freqs.weight")
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(factors.len(), 8, "head_dim 16 → 8 frequencies");
    assert!(
        factors[0] == 1.0 && *factors.last().unwrap() == 8.0,
        "high frequencies kept, low ones slowed by the factor: {factors:?}"
    );

    let folder = tmp.path().join("imported");
    import_gguf(&file, &folder).unwrap();
    let config = hone_model::Config::from_file(&folder.join("config.json")).unwrap();
    assert_eq!(
        config.rope_scaling,
        hone_model::config::RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 64
        }
    );
    let lm = LoadedModel::load(&folder, DeviceInfo::cpu("tests")).unwrap();
    let exp = expected(model_dir("tiny-llama3-tied").join("expected.safetensors"));
    let long = exp["input_ids_long"].to_dtype(DType::U32).unwrap();
    let logits = lm.model.forward(&long, &LoraContext::default()).unwrap();
    let diff = max_diff_masked(&logits, &exp["logits_long"], None);
    assert!(
        diff < PARITY_TOL,
        "80 positions (past the original 64) differ from transformers by {diff}"
    );

    let odd = tmp.path().join("odd").join("model.gguf");
    std::fs::create_dir_all(odd.parent().unwrap()).unwrap();
    rewrite(&file, &odd, |_, tensors| {
        let t = tensors
            .iter_mut()
            .find(|(n, _)| n == "rope_freqs.weight")
            .unwrap();
        let values: Vec<f32> = (0..8).map(|i| 1.0 + i as f32).collect();
        t.1 = QTensor::quantize(
            &Tensor::new(values, &Device::Cpu).unwrap(),
            candle_core::quantized::GgmlDType::F32,
        )
        .unwrap();
    });
    let err = import_error(&odd);
    assert!(
        err.contains("rope_freqs.weight") && err.contains("match no Llama 3 scaling"),
        "{err}"
    );
}

/// llama.cpp itself (`HONE_LLAMA_CPP_PYTHON`, set by scripts/test.sh) runs the fixture models as
/// Hone exports them to f32 GGUF and gives transformers' log-probs: llama's Q/K order, qwen2's
/// biases and tied embeddings, Llama 3 scaling through `rope_freqs.weight` past the original
/// context, and the tokenizer metadata (its ids for a text equal Hone's).
#[test]
fn llama_cpp_runs_exported_fixture_models_as_transformers_does() {
    let python = std::env::var_os("HONE_LLAMA_CPP_PYTHON").unwrap_or_else(|| {
        panic!("HONE_LLAMA_CPP_PYTHON is not set: run `export HONE_LLAMA_CPP_PYTHON=$(bash scripts/setup-llama-cpp.sh)` (or scripts/test.sh)")
    });
    let tmp = tempfile::tempdir().unwrap();
    let script = crate::fixtures().join("../llama_cpp/check.py");
    let text = "Hello there, how are you? 12345";
    for name in ["tiny-llama", "tiny-qwen2", "tiny-llama3-tied"] {
        let file = exported(name, GgufQuant::F32, tmp.path());
        let exp = expected(model_dir(name).join("expected.safetensors"));
        let tokens: Vec<u32> = exp["input_ids_long"]
            .to_dtype(DType::U32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let request = serde_json::json!({"runs": [{"name": name, "model": file}], "tokens": tokens, "start": 1, "texts": [text]});
        let (req, ans) = (
            tmp.path().join(format!("{name}-req.json")),
            tmp.path().join(format!("{name}-ans.json")),
        );
        std::fs::write(&req, request.to_string()).unwrap();
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg(&req)
            .arg(&ans)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "llama.cpp on {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&ans).unwrap()).unwrap();
        let run = &answer["runs"][name];

        let logp = candle_nn::ops::log_softmax(&exp["logits_long"].squeeze(0).unwrap(), 1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let llama: Vec<f64> = run["logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(llama.len(), tokens.len() - 1);
        let worst = llama
            .iter()
            .enumerate()
            .map(|(i, lp)| (lp - logp[i][tokens[i + 1] as usize] as f64).abs())
            .fold(0.0, f64::max);
        println!("{name}: llama.cpp vs transformers, max |Δ log p| over 80 positions = {worst:e}");
        // llama.cpp keeps its KV cache in f16: ~1e-2 at most; a wrong Q/K order or RoPE would
        // be off by whole nats.
        assert!(
            worst < 0.05,
            "{name}: llama.cpp's log-probs differ from transformers' by {worst}"
        );

        let lm = LoadedModel::load(&model_dir(name), DeviceInfo::cpu("tests")).unwrap();
        let ids: Vec<u64> = lm
            .tokenizer
            .encode(text, false)
            .unwrap()
            .into_iter()
            .map(u64::from)
            .collect();
        assert_eq!(
            run["tokens"][0],
            serde_json::json!(ids),
            "{name}: llama.cpp tokenizes with the vocabulary Hone wrote as Hone does"
        );
    }
}
