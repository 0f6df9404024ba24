//! Where a model's files are: a Hugging Face folder as given, or a GGUF file (what LM Studio,
//! Ollama and llama.cpp keep) imported once into the workspace's content-addressed model folder
//! `<workspace>/models/gguf/<sha256>/`, so every command and screen that takes a model takes
//! either, and versions trained on an imported GGUF keep their base inside the workspace.

use std::path::{Path, PathBuf};

use crate::finetune::Recipe;
use crate::{Hone, Result};

/// The folder GGUF imports of the workspace `workspace` go to.
pub fn gguf_cache(workspace: &Path) -> PathBuf {
    workspace.join("models").join("gguf")
}

/// [`Hone::model_folder`] without an open workspace (the CLI's engine commands).
pub fn model_folder_in(workspace: &Path, path: &Path) -> Result<PathBuf> {
    Ok(hone_model::gguf::model_folder(
        path,
        &gguf_cache(workspace),
    )?)
}

impl Hone {
    /// The model folder of `path`: itself when it is a folder, the imported copy of a GGUF file
    /// (imported on first use; a multi-GiB file takes a while, so this runs off the async threads).
    pub async fn model_folder(&self, path: &Path) -> Result<PathBuf> {
        if path.is_dir() {
            return Ok(path.to_owned());
        }
        let (workspace, path) = (self.dir().to_owned(), path.to_owned());
        crate::blocking::run(move || model_folder_in(&workspace, &path)).await?
    }

    /// `recipe` with its model given as a folder.
    pub(crate) async fn recipe_on_folder(&self, recipe: &Recipe) -> Result<Recipe> {
        let mut recipe = recipe.clone();
        recipe.model_dir = self
            .model_folder(&recipe.model_dir)
            .await
            .map_err(|e| e.for_field("recipe.model_dir"))?;
        Ok(recipe)
    }
}
