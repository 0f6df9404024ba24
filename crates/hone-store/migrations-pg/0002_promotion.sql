-- PostgreSQL twin of migrations/0002_promotion.sql; keep in step (checked by the store's schema test)
-- The version the app generates with ("promoted" by the user); NULL = the base model.
ALTER TABLE projects ADD COLUMN promoted_version_id BIGINT REFERENCES model_versions(id);
