//! An open GGUF file: its magic checked before anything else is read, its metadata and
//! tensor table parsed by candle's reader, and typed look-ups whose errors name the key.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::{ModelError, Result};

/// "GGUF" as the first four bytes of the file.
const MAGIC: &[u8; 4] = b"GGUF";

pub struct GgufFile {
    path: PathBuf,
    content: Content,
    file_size: u64,
}

/// Whether `path` starts with GGUF's magic number (reads four bytes).
pub fn is_gguf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == MAGIC
}

impl GgufFile {
    /// Opens `path`: refuses a file that is not GGUF after its first four bytes, then reads the
    /// header (metadata and tensor table, not the tensors).
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| ModelError::file(path, e))?;
        let file_size = file
            .metadata()
            .map_err(|e| ModelError::file(path, e))?
            .len();
        let mut reader = BufReader::new(file);
        let mut magic = [0u8; 4];
        reader.read_exact(&mut magic).map_err(|_| {
            ModelError::file(path, "is not a GGUF file (shorter than its magic number)")
        })?;
        if &magic != MAGIC {
            return Err(ModelError::file(
                path,
                format!("is not a GGUF file (it starts with {magic:02x?}, not \"GGUF\")"),
            ));
        }
        reader.rewind().map_err(|e| ModelError::file(path, e))?;
        let content = Content::read(&mut reader).map_err(|e| {
            ModelError::file(
                path,
                format!("unreadable GGUF header (truncated or damaged?): {e}"),
            )
        })?;
        Ok(Self {
            path: path.to_owned(),
            content,
            file_size,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &std::collections::HashMap<String, Value> {
        &self.content.metadata
    }

    fn key_error(&self, key: &str, message: impl Into<String>) -> ModelError {
        ModelError::Config {
            path: self.path.clone(),
            field: key.into(),
            message: message.into(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    pub fn string(&self, key: &str) -> Result<&str> {
        self.opt_string(key)?
            .ok_or_else(|| self.key_error(key, "is missing"))
    }

    pub fn opt_string(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.key_error(key, format!("expected a string, found {other:?}"))),
        }
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?
            .ok_or_else(|| self.key_error(key, "is missing"))
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        let value = match self.get(key) {
            None => return Ok(None),
            Some(v) => v,
        };
        let n = match value {
            Value::U8(v) => Some(*v as u64),
            Value::U16(v) => Some(*v as u64),
            Value::U32(v) => Some(*v as u64),
            Value::U64(v) => Some(*v),
            Value::I8(v) => u64::try_from(*v).ok(),
            Value::I16(v) => u64::try_from(*v).ok(),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        };
        n.map(|n| Some(n as usize)).ok_or_else(|| {
            self.key_error(
                key,
                format!("expected a non-negative integer, found {value:?}"),
            )
        })
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            // f32 values print as their shortest round-trip decimal, the number the converter started from.
            Some(Value::F32(v)) => Ok(Some(v.to_string().parse().expect("a printed f32 parses"))),
            Some(Value::F64(v)) => Ok(Some(*v)),
            Some(other) => Err(self.key_error(key, format!("expected a number, found {other:?}"))),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => {
                Err(self.key_error(key, format!("expected true or false, found {other:?}")))
            }
        }
    }

    /// An array of strings (`tokenizer.ggml.tokens`, `.merges`).
    pub fn strings(&self, key: &str) -> Result<Vec<&str>> {
        let Some(value) = self.get(key) else {
            return Err(self.key_error(key, "is missing"));
        };
        let Value::Array(items) = value else {
            return Err(self.key_error(key, "expected an array of strings"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(self.key_error(
                    &format!("{key}[{i}]"),
                    format!("expected a string, found {other:?}"),
                )),
            })
            .collect()
    }

    /// An array of integers (`tokenizer.ggml.token_type`).
    pub fn integers(&self, key: &str) -> Result<Vec<i64>> {
        let Some(value) = self.get(key) else {
            return Err(self.key_error(key, "is missing"));
        };
        let Value::Array(items) = value else {
            return Err(self.key_error(key, "expected an array of integers"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::I32(n) => Ok(*n as i64),
                Value::U32(n) => Ok(*n as i64),
                Value::I64(n) => Ok(*n),
                Value::U8(n) => Ok(*n as i64),
                Value::I8(n) => Ok(*n as i64),
                other => Err(self.key_error(
                    &format!("{key}[{i}]"),
                    format!("expected an integer, found {other:?}"),
                )),
            })
            .collect()
    }

    /// Tensor names, sorted.
    pub fn tensor_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .content
            .tensor_infos
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.content.tensor_infos.get(name)
    }

    /// Row-major shape of a tensor (GGUF lists dimensions innermost first; candle reverses them).
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensor_info(name).map(|t| t.shape.dims())
    }

    /// Checks that every tensor's bytes lie inside the file and its element count fits its
    /// block size, so a truncated file is refused before anything is written.
    pub fn check_tensor_bounds(&self) -> Result<()> {
        for name in self.tensor_names() {
            let info = &self.content.tensor_infos[name];
            let elements = info.shape.elem_count();
            let block = info.ggml_dtype.block_size();
            if !elements.is_multiple_of(block) {
                return Err(ModelError::file(
                    &self.path,
                    format!("tensor `{name}`: {elements} elements do not fill whole {:?} blocks of {block}", info.ggml_dtype),
                ));
            }
            let bytes = (elements / block * info.ggml_dtype.type_size()) as u64;
            let end = self
                .content
                .tensor_data_offset
                .saturating_add(info.offset)
                .saturating_add(bytes);
            if end > self.file_size {
                return Err(ModelError::file(
                    &self.path,
                    format!("tensor `{name}` ends at byte {end}, past the end of the file ({} bytes): the file is truncated", self.file_size),
                ));
            }
        }
        Ok(())
    }

    /// Reads one tensor as stored (quantized or not), its bytes straight into the blocks the
    /// `QTensor` keeps (`read_blocks`).
    pub fn qtensor(&self, name: &str) -> Result<QTensor> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.into(),
                path: self.path.clone(),
            })?;
        let file = File::open(&self.path).map_err(|e| ModelError::file(&self.path, e))?;
        let mut reader = BufReader::new(file);
        super::read_blocks::read_qtensor(&mut reader, info, self.content.tensor_data_offset)
            .map_err(|e| ModelError::file(&self.path, format!("tensor `{name}`: {e}")))
    }

    /// Reads one tensor and dequantizes it to f32, refusing NaN or infinite values.
    pub fn dequantized(&self, name: &str) -> Result<Tensor> {
        let t = crate::dequantize::dequantize(&self.qtensor(name)?, &Device::Cpu)?;
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::file(
                &self.path,
                format!(
                    "tensor `{name}` holds a non-finite value ({}) at element {i}",
                    values[i]
                ),
            ));
        }
        Ok(t)
    }

    pub fn dtype(&self, name: &str) -> Option<GgmlDType> {
        self.tensor_info(name).map(|t| t.ggml_dtype)
    }
}
