//! The experiment config (JSON, also built by the GUI) and its validation. A [`ValidatedConfig`]
//! can only be made by [`validate`], so the engine never sees an invalid one.

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::models::{Modality, ModelKind, ModelProvider};

/// The default image size (pixels per side) of text→image outputs, as in the old tool.
pub const DEFAULT_IMAGE_SIZE: u32 = 256;

/// The config as written by a user: nothing checked yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Each network is a cycle of generative model names.
    pub networks: Vec<Vec<String>>,
    /// Initial prompts; their order is kept in runs, listings and exports.
    pub prompts: Vec<String>,
    /// One run per seed (per network × prompt); -1 = unseeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Vec<i64>>,
    /// Alternatively, this many unseeded runs per network × prompt.
    #[serde(default, alias = "seed_count", skip_serializing_if = "Option::is_none")]
    pub num_runs: Option<i64>,
    pub embedding_models: Vec<String>,
    /// Invocations per run.
    pub max_length: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<i64>,
}

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// JSON path of the offending field, e.g. `networks[1][0]`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path} is empty: expected a JSON object such as assets/configs/demo.json")]
    Empty { path: String },
    #[error(
        "config {path} is not UTF-8 text (invalid byte at offset {byte}); save it as UTF-8 JSON"
    )]
    NotUtf8 { path: String, byte: usize },
    #[error("config {path} is not valid JSON at line {line}, column {column}: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("config is invalid:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

/// A config that passed validation, with its runs' seeds resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidatedConfig {
    raw: ExperimentConfig,
    seeds: Vec<i64>,
    max_length: u32,
    image_size: u32,
}

impl ValidatedConfig {
    pub fn raw(&self) -> &ExperimentConfig {
        &self.raw
    }
    pub fn networks(&self) -> &[Vec<String>] {
        &self.raw.networks
    }
    pub fn prompts(&self) -> &[String] {
        &self.raw.prompts
    }
    /// One entry per run of each network × prompt (`num_runs` expands to that many -1s).
    pub fn seeds(&self) -> &[i64] {
        &self.seeds
    }
    pub fn embedding_models(&self) -> &[String] {
        &self.raw.embedding_models
    }
    pub fn max_length(&self) -> u32 {
        self.max_length
    }
    pub fn image_size(&self) -> u32 {
        self.image_size
    }
    pub fn run_count(&self) -> usize {
        self.networks().len() * self.prompts().len() * self.seeds.len()
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.raw).unwrap_or_default()
    }
}

/// Parses config JSON. Errors carry line and column and, for a wrong value, the path of the
/// field it belongs to (e.g. `max_length`, `networks[0][1]`).
pub fn parse(json: &str, origin: &str) -> Result<ExperimentConfig, ConfigError> {
    if json.trim().is_empty() {
        return Err(ConfigError::Empty {
            path: origin.to_owned(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        // serde_json appends " at line L column C"; the error names those itself.
        let text = inner.to_string();
        let message = match text.rfind(" at line ") {
            Some(at) => text[..at].to_owned(),
            None => text,
        };
        let message = if field.is_empty() || field == "." {
            message
        } else {
            format!("field `{field}`: {message}")
        };
        ConfigError::Parse {
            path: origin.to_owned(),
            line: inner.line(),
            column: inner.column(),
            message,
        }
    })
}

pub fn load(path: &Path) -> Result<ExperimentConfig, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|error| ConfigError::NotUtf8 {
        path: path.display().to_string(),
        byte: error.utf8_error().valid_up_to(),
    })?;
    parse(&text, &path.display().to_string())
}

/// `config` with each model name the provider does not know, but the catalog knows under another
/// spelling (a Hugging Face id, another case), replaced by the catalog name, so stored configs
/// always use one name per model.
fn with_catalog_names(config: &ExperimentConfig, known: &[String]) -> ExperimentConfig {
    let rename = |name: &String| -> String {
        if known.contains(name) {
            return name.clone();
        }
        match crate::models::catalog::canonical_name(name) {
            Some(canonical) if known.iter().any(|k| k == canonical) => canonical.to_owned(),
            _ => name.clone(),
        }
    };
    let mut renamed = config.clone();
    for network in &mut renamed.networks {
        for name in network.iter_mut() {
            *name = rename(name);
        }
    }
    for name in &mut renamed.embedding_models {
        *name = rename(name);
    }
    renamed
}

/// Checks everything at once and reports every problem, each naming the field, the bad value
/// and the valid choices.
pub fn validate(
    config: &ExperimentConfig,
    models: &dyn ModelProvider,
) -> Result<ValidatedConfig, ConfigError> {
    let mut problems = Vec::new();
    let mut problem =
        |field: String, message: String| problems.push(ConfigProblem { field, message });
    let names = models.names();
    let canonical = with_catalog_names(config, &names);
    let config = &canonical;
    let generative: Vec<&str> = names
        .iter()
        .filter(
            |name| matches!(models.describe(name), Some(kind) if kind.generative_input().is_some()),
        )
        .map(String::as_str)
        .collect();
    let embedders: Vec<&str> = names
        .iter()
        .filter(|name| matches!(models.describe(name), Some(ModelKind::Embedding { .. })))
        .map(String::as_str)
        .collect();

    if config.networks.is_empty() {
        problem(
            "networks".into(),
            format!(
                "must list at least one network (a cycle of models from: {})",
                generative.join(", ")
            ),
        );
    }
    for (n, network) in config.networks.iter().enumerate() {
        if network.is_empty() {
            problem(
                format!("networks[{n}]"),
                "is empty; a network needs at least one model".into(),
            );
            continue;
        }
        let mut kinds = Vec::new();
        for (m, name) in network.iter().enumerate() {
            match models.describe(name) {
                Some(kind) if kind.generative_input().is_some() => kinds.push(Some(kind)),
                Some(_) => {
                    problem(
                        format!("networks[{n}][{m}]"),
                        format!(
                            "'{name}' is an embedding model, not a generative one; valid choices: {}",
                            generative.join(", ")
                        ),
                    );
                    kinds.push(None);
                }
                None => {
                    problem(
                        format!("networks[{n}][{m}]"),
                        format!(
                            "unknown model '{name}'; valid choices: {}",
                            generative.join(", ")
                        ),
                    );
                    kinds.push(None);
                }
            }
        }
        if let Some(Some(first)) = kinds.first()
            && first.generative_input() != Some(Modality::Text)
        {
            problem(
                format!("networks[{n}][0]"),
                format!(
                    "'{}' takes {} input, but the first model is given the text prompt; start with a text→image model",
                    network[0],
                    first
                        .generative_input()
                        .map_or("no".into(), |m| m.to_string())
                ),
            );
        }
        // Each model's output must be the next one's input, and the last must feed the first.
        for m in 0..network.len() {
            let next = (m + 1) % network.len();
            if let (Some(Some(current)), Some(Some(following))) = (kinds.get(m), kinds.get(next)) {
                let (output, input) = (current.generative_output(), following.generative_input());
                if output != input {
                    let output = output.map_or("nothing".into(), |m| m.to_string());
                    let input = input.map_or("nothing".into(), |m| m.to_string());
                    let (before, after) = (&network[m], &network[next]);
                    let (field, what) = if next == 0 {
                        (
                            format!("networks[{n}]"),
                            format!(
                                "does not close the cycle: the last model '{before}' outputs {output} but the first model '{after}' takes {input}"
                            ),
                        )
                    } else {
                        (
                            format!("networks[{n}][{next}]"),
                            format!(
                                "'{after}' takes {input} but the model before it, '{before}', outputs {output}"
                            ),
                        )
                    };
                    problem(field, what);
                }
            }
        }
    }

    if config.prompts.is_empty() {
        problem("prompts".into(), "must list at least one prompt".into());
    }
    for (p, prompt) in config.prompts.iter().enumerate() {
        if prompt.trim().is_empty() {
            problem(format!("prompts[{p}]"), "is empty".into());
        } else if let Some(first) = config.prompts[..p]
            .iter()
            .position(|earlier| earlier == prompt)
        {
            problem(
                format!("prompts[{p}]"),
                format!("'{prompt}' duplicates prompts[{first}]; each prompt must appear once"),
            );
        }
    }

    let seeds = match (&config.seeds, config.num_runs) {
        (Some(_), Some(_)) => {
            problem(
                "seeds".into(),
                "give either `seeds` or `num_runs`, not both".into(),
            );
            Vec::new()
        }
        (None, None) => {
            problem(
                "seeds".into(),
                "missing: give `seeds` (a list; -1 = unseeded) or `num_runs` (a count of unseeded runs)".into(),
            );
            Vec::new()
        }
        (Some(seeds), None) => {
            if seeds.is_empty() {
                problem(
                    "seeds".into(),
                    "must list at least one seed (-1 = unseeded)".into(),
                );
            }
            for (s, seed) in seeds.iter().enumerate() {
                if *seed < -1 {
                    problem(
                        format!("seeds[{s}]"),
                        format!(
                            "{seed} is not a valid seed; use a non-negative integer, or -1 for unseeded"
                        ),
                    );
                }
            }
            seeds.clone()
        }
        (None, Some(count)) => {
            if count < 1 {
                problem("num_runs".into(), format!("{count} must be at least 1"));
                Vec::new()
            } else {
                vec![-1; count as usize]
            }
        }
    };

    if config.embedding_models.is_empty() {
        problem(
            "embedding_models".into(),
            format!(
                "must list at least one embedding model; valid choices: {}",
                embedders.join(", ")
            ),
        );
    }
    for (e, name) in config.embedding_models.iter().enumerate() {
        match models.describe(name) {
            Some(ModelKind::Embedding { .. }) => {
                if config.embedding_models[..e].contains(name) {
                    problem(
                        format!("embedding_models[{e}]"),
                        format!("'{name}' is listed twice"),
                    );
                }
            }
            Some(_) => problem(
                format!("embedding_models[{e}]"),
                format!(
                    "'{name}' is a generative model, not an embedding model; valid choices: {}",
                    embedders.join(", ")
                ),
            ),
            None => problem(
                format!("embedding_models[{e}]"),
                format!(
                    "unknown embedding model '{name}'; valid choices: {}",
                    embedders.join(", ")
                ),
            ),
        }
    }

    if config.max_length < 1 {
        problem(
            "max_length".into(),
            format!("{} must be at least 1", config.max_length),
        );
    } else if config.max_length > 1_000_000 {
        problem(
            "max_length".into(),
            format!("{} is more than the limit of 1000000", config.max_length),
        );
    }
    let image_size = config.image_size.unwrap_or(i64::from(DEFAULT_IMAGE_SIZE));
    if !(16..=4096).contains(&image_size) || image_size % 8 != 0 {
        problem(
            "image_size".into(),
            format!("{image_size} must be a multiple of 8 between 16 and 4096"),
        );
    }

    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    Ok(ValidatedConfig {
        raw: config.clone(),
        seeds,
        max_length: config.max_length as u32,
        image_size: image_size as u32,
    })
}

#[cfg(test)]
mod input_tests {
    use super::*;

    const GOOD: &str = r#"{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["a cat"],
        "seeds": [1], "embedding_models": ["DummyText"], "max_length": 10}"#;

    fn parse_error(json: &str) -> String {
        match parse(json, "test.json") {
            Ok(config) => panic!("{json} parsed as {config:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_wrong_value_names_its_field_and_position() {
        let message = parse_error(&GOOD.replace(r#""max_length": 10"#, r#""max_length": "ten""#));
        assert!(message.contains("field `max_length`"), "{message}");
        assert!(message.contains("line 2"), "{message}");
        assert_eq!(message.matches("line").count(), 1, "{message}");
        let message =
            parse_error(&GOOD.replace(r#"["DummyT2I", "DummyI2T"]"#, r#"["DummyT2I", 5]"#));
        assert!(message.contains("field `networks[0][1]`"), "{message}");
    }

    #[test]
    fn empty_and_non_utf8_files_get_one_clear_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, "  \n").expect("write");
        let message = load(&empty).expect_err("empty").to_string();
        assert!(message.contains("is empty"), "{message}");
        assert!(!message.contains("EOF"), "{message}");
        let latin1 = dir.path().join("latin1.json");
        std::fs::write(&latin1, b"{\"prompts\": [\"caf\xe9\"]}").expect("write");
        let message = load(&latin1).expect_err("latin-1").to_string();
        assert!(message.contains("not UTF-8"), "{message}");
        assert!(message.contains("offset 17"), "{message}");
        assert_eq!(message.matches("UTF-8").count(), 2, "{message}");
    }

    /// Random and mutated configs never panic: each parses, or fails with a message naming the
    /// file. (Validation of what parses is covered by the engine tests with a provider.)
    #[test]
    fn mutated_configs_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let replacements: [&[u8]; 12] = [
            b"",
            b"\"",
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"-1",
            b"1e999",
            b"null",
            "é".as_bytes(),
        ];
        for _ in 0..3000 {
            let mut bytes = GOOD.as_bytes().to_vec();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..bytes.len());
                let end = (at + rng.random_range(0..6)).min(bytes.len());
                let with = replacements[rng.random_range(0..replacements.len())];
                bytes.splice(at..end, with.iter().copied());
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            if let Err(error) = parse(&text, "mutated.json") {
                assert!(error.to_string().contains("mutated.json"), "{error}");
            }
        }
    }
}
