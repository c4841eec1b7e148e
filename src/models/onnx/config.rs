//! What a model directory declares about itself in its Hugging Face / diffusers config files
//! (`tokenizer_config.json`, `generation_config.json`, `preprocessor_config.json`, ...). The
//! catalog's constants are only the fallback for an absent file or field: a user's directory may
//! hold a fine-tune with other tokens or settings. A file that declares something a pipeline
//! cannot do is a [`ModelError::Config`] naming the file and the field, never a silently
//! different model.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::models::ModelError;

/// One parsed JSON config file.
pub struct ConfigFile {
    model: String,
    path: PathBuf,
    fields: Map<String, Value>,
}

impl ConfigFile {
    /// The file at `path`; `None` when there is none.
    pub fn open(model: &str, path: &Path) -> Result<Option<Self>, ModelError> {
        if !path.is_file() {
            return Ok(None);
        }
        let error = |field: &str, message: String| ModelError::config(model, path, field, message);
        let text = std::fs::read_to_string(path).map_err(|e| error("(file)", e.to_string()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| error("(file)", format!("not JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(error("(file)", "is not a JSON object".into()));
        };
        Ok(Some(Self {
            model: model.to_owned(),
            path: path.to_owned(),
            fields,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about `field` of this file.
    pub fn error(&self, field: &str, message: impl Into<String>) -> ModelError {
        ModelError::config(&self.model, &self.path, field, message)
    }

    /// Field `name`; `null` counts as absent, as in the Python loaders.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|value| !value.is_null())
    }

    pub fn f64(&self, name: &str) -> Result<Option<f64>, ModelError> {
        self.get(name)
            .map(|value| {
                value
                    .as_f64()
                    .ok_or_else(|| self.error(name, format!("expected a number, found {value}")))
            })
            .transpose()
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, ModelError> {
        self.get(name)
            .map(|value| {
                value.as_u64().ok_or_else(|| {
                    self.error(
                        name,
                        format!("expected a non-negative integer, found {value}"),
                    )
                })
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ModelError> {
        self.get(name)
            .map(|value| {
                value.as_bool().ok_or_else(|| {
                    self.error(name, format!("expected true or false, found {value}"))
                })
            })
            .transpose()
    }

    pub fn str(&self, name: &str) -> Result<Option<&str>, ModelError> {
        self.get(name)
            .map(|value| {
                value
                    .as_str()
                    .ok_or_else(|| self.error(name, format!("expected a string, found {value}")))
            })
            .transpose()
    }

    /// Field `name` when it must be absent, `null`, `false` or the `allowed` value: anything
    /// else is a setting the pipeline does not implement.
    pub fn require_default(&self, name: &str, allowed: &[Value]) -> Result<(), ModelError> {
        match self.get(name) {
            None | Some(Value::Bool(false)) => Ok(()),
            Some(value) if allowed.contains(value) => Ok(()),
            Some(value) => Err(self.error(name, format!("{value} is not supported"))),
        }
    }

    /// A token given as a string or as an added-token object `{"content": ...}`.
    pub fn token(&self, name: &str) -> Result<Option<String>, ModelError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(token)) => Ok(Some(token.clone())),
            Some(Value::Object(token)) => match token.get("content") {
                Some(Value::String(content)) => Ok(Some(content.clone())),
                _ => Err(self.error(name, "the token object has no string content")),
            },
            Some(value) => Err(self.error(name, format!("expected a token, found {value}"))),
        }
    }

    /// A token id given as an integer or a one-element list (`eos_token_id: [2]`).
    pub fn token_id(&self, name: &str) -> Result<Option<u32>, ModelError> {
        let value = match self.get(name) {
            None => return Ok(None),
            Some(Value::Array(items)) if items.len() == 1 => &items[0],
            Some(Value::Array(_)) => {
                return Err(self.error(name, "several token ids are not supported"));
            }
            Some(value) => value,
        };
        value
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .map(Some)
            .ok_or_else(|| self.error(name, format!("expected a token id, found {value}")))
    }
}

/// The pad token `dir` declares: `tokenizer_config.json`'s `pad_token`, else
/// `special_tokens_map.json`'s. Returns the file it came from too, for error messages.
pub fn declared_pad_token(
    model: &str,
    dir: &Path,
) -> Result<Option<(String, PathBuf)>, ModelError> {
    for file in ["tokenizer_config.json", "special_tokens_map.json"] {
        if let Some(config) = ConfigFile::open(model, &dir.join(file))?
            && let Some(token) = config.token("pad_token")?
        {
            return Ok(Some((token, config.path().to_owned())));
        }
    }
    Ok(None)
}

/// An added token as `tokenizer_config.json`'s `added_tokens_decoder` declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredToken {
    pub id: u32,
    pub content: String,
    pub special: bool,
    pub normalized: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    pub single_word: bool,
}

/// The added tokens of `dir/tokenizer_config.json` (empty without the file or the field), by id.
pub fn declared_added_tokens(model: &str, dir: &Path) -> Result<Vec<DeclaredToken>, ModelError> {
    let field = "added_tokens_decoder";
    let Some(config) = ConfigFile::open(model, &dir.join("tokenizer_config.json"))? else {
        return Ok(Vec::new());
    };
    let Some(value) = config.get(field) else {
        return Ok(Vec::new());
    };
    let Value::Object(entries) = value else {
        return Err(config.error(field, "expected an object of id → token"));
    };
    let mut tokens = Vec::with_capacity(entries.len());
    for (id, entry) in entries {
        let bad = |message: &str| config.error(&format!("{field}.{id}"), message);
        let id: u32 = id.parse().map_err(|_| bad("the key is not a token id"))?;
        let content = entry
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no string content"))?;
        let flag =
            |name: &str, default: bool| entry.get(name).and_then(Value::as_bool).unwrap_or(default);
        tokens.push(DeclaredToken {
            id,
            content: content.to_owned(),
            special: flag("special", false),
            normalized: flag("normalized", true),
            lstrip: flag("lstrip", false),
            rstrip: flag("rstrip", false),
            single_word: flag("single_word", false),
        });
    }
    tokens.sort_by_key(|token| token.id);
    Ok(tokens)
}

/// The token ids `generation_config.json` declares (each `None` when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenerationConfig {
    pub decoder_start_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    pub forced_bos_token_id: Option<u32>,
    /// Decoder sequence length at most, the start token included.
    pub max_length: Option<usize>,
}

impl GenerationConfig {
    /// `dir/generation_config.json`, ids checked against a vocabulary of `vocabulary` tokens.
    pub fn read(model: &str, dir: &Path, vocabulary: usize) -> Result<Self, ModelError> {
        let Some(config) = ConfigFile::open(model, &dir.join("generation_config.json"))? else {
            return Ok(Self::default());
        };
        let id = |name: &str| -> Result<Option<u32>, ModelError> {
            match config.token_id(name)? {
                Some(id) if id as usize >= vocabulary => Err(config.error(
                    name,
                    format!("token id {id} is outside the vocabulary of {vocabulary}"),
                )),
                other => Ok(other),
            }
        };
        let max_length = match config.u64("max_length")? {
            Some(0 | 1) => return Err(config.error("max_length", "must be at least 2")),
            Some(length) => Some(usize::try_from(length).unwrap_or(usize::MAX)),
            None => None,
        };
        Ok(Self {
            decoder_start_token_id: id("decoder_start_token_id")?,
            eos_token_id: id("eos_token_id")?,
            forced_bos_token_id: id("forced_bos_token_id")?,
            max_length,
        })
    }

    /// New tokens at most: `requested`, capped by `max_length` less the start token.
    pub fn max_new_tokens(&self, requested: usize) -> usize {
        self.max_length
            .map_or(requested, |length| requested.min(length - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, json: &str) {
        std::fs::write(dir.join(file), json).expect("write");
    }

    #[test]
    fn tokens_come_as_strings_or_objects_and_null_is_absent() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(declared_pad_token("m", dir.path()).expect("read"), None);
        write(
            dir.path(),
            "tokenizer_config.json",
            r#"{"pad_token": null}"#,
        );
        write(
            dir.path(),
            "special_tokens_map.json",
            r#"{"pad_token": {"content": "<pad>", "lstrip": false}}"#,
        );
        let (token, file) = declared_pad_token("m", dir.path())
            .expect("read")
            .expect("declared");
        assert_eq!(token, "<pad>");
        assert!(file.ends_with("special_tokens_map.json"));
        write(dir.path(), "tokenizer_config.json", r#"{"pad_token": 3}"#);
        let error = declared_pad_token("m", dir.path()).expect_err("not a token");
        assert!(
            error
                .to_string()
                .contains("tokenizer_config.json: pad_token")
        );
        write(dir.path(), "tokenizer_config.json", "{not json");
        assert!(declared_pad_token("m", dir.path()).is_err());
    }

    #[test]
    fn generation_ids_are_checked_and_max_length_caps_new_tokens() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            GenerationConfig::read("m", dir.path(), 10).expect("read"),
            GenerationConfig::default()
        );
        write(
            dir.path(),
            "generation_config.json",
            r#"{"decoder_start_token_id": 2, "eos_token_id": [2], "max_length": 8}"#,
        );
        let config = GenerationConfig::read("m", dir.path(), 10).expect("read");
        assert_eq!(config.decoder_start_token_id, Some(2));
        assert_eq!(config.eos_token_id, Some(2));
        assert_eq!(config.forced_bos_token_id, None);
        assert_eq!(
            (config.max_new_tokens(64), config.max_new_tokens(3)),
            (7, 3)
        );
        assert!(GenerationConfig::read("m", dir.path(), 2).is_err());
        write(dir.path(), "generation_config.json", r#"{"max_length": 1}"#);
        assert!(GenerationConfig::read("m", dir.path(), 10).is_err());
    }
}
