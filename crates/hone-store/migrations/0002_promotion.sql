-- The version the app generates with ("promoted" by the user); NULL = the base model.
ALTER TABLE projects ADD COLUMN promoted_version_id INTEGER REFERENCES model_versions(id);
