//! Prompts: plain text or a chat conversation, with tags and a train/held-out split.

use crate::dialect::{self, Rows, Value};
use crate::Conn;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{parse_json, to_json};
use crate::{ImportRunId, ProjectId, PromptId, Result, Split, StoreError};

/// One chat turn, as Hugging Face chat templates and TRL's conversational datasets spell it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub id: PromptId,
    pub project_id: ProjectId,
    /// The plain text; for a chat prompt, the content of its last user message.
    pub text: String,
    /// The conversation, when the prompt is a chat; `None` for a plain text prompt.
    pub messages: Option<Vec<ChatMessage>>,
    pub split: Split,
    pub tags: Vec<String>,
    pub created_at: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPrompt {
    pub text: String,
    pub messages: Option<Vec<ChatMessage>>,
    pub split: Split,
    pub tags: Vec<String>,
}

impl NewPrompt {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            messages: None,
            split: Split::Train,
            tags: Vec::new(),
        }
    }

    /// sha256 over the canonical content (the conversation's JSON, or the text).
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        match &self.messages {
            Some(messages) => {
                hasher.update(b"chat\0");
                hasher.update(serde_json::to_vec(messages).expect("messages serialize"));
            }
            None => {
                hasher.update(b"text\0");
                hasher.update(self.text.as_bytes());
            }
        }
        hex::encode(hasher.finalize())
    }
}

#[derive(sqlx::FromRow)]
struct PromptRow {
    id: PromptId,
    project_id: ProjectId,
    text: String,
    messages: Option<String>,
    split: Split,
    created_at: String,
}

const COLUMNS: &str = "id, project_id, text, messages, split, created_at";

async fn hydrate(conn: &mut Conn, row: PromptRow) -> Result<Prompt> {
    let tags = tags(conn, row.id).await?;
    prompt_of(row, tags)
}

fn prompt_of(row: PromptRow, tags: Vec<String>) -> Result<Prompt> {
    let messages = row
        .messages
        .as_deref()
        .map(|m| parse_json("prompts.messages", m))
        .transpose()?;
    Ok(Prompt {
        id: row.id,
        project_id: row.project_id,
        text: row.text,
        messages,
        split: row.split,
        tags,
        created_at: row.created_at,
    })
}

/// Inserts the prompt, or finds the project's prompt with the same content (adding any new
/// tags to it; its split is left as it was). Returns the prompt and whether it was created.
pub async fn insert_or_get(
    conn: &mut Conn,
    project_id: ProjectId,
    new: &NewPrompt,
) -> Result<(Prompt, bool)> {
    let hash = new.content_hash();
    let existing: Option<PromptId> =
        sqlx::query_scalar("SELECT id FROM prompts WHERE project_id = $1 AND content_hash = $2")
            .bind(project_id)
            .bind(&hash)
            .fetch_optional(&mut *conn)
            .await?;
    let (id, created) = match existing {
        Some(id) => (id, false),
        None => {
            let messages = new
                .messages
                .as_ref()
                .map(|m| to_json("prompts.messages", m))
                .transpose()?;
            let id = sqlx::query_scalar(
                "INSERT INTO prompts (project_id, text, messages, split, content_hash) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(project_id)
            .bind(&new.text)
            .bind(messages)
            .bind(new.split)
            .bind(&hash)
            .fetch_one(&mut *conn)
            .await?;
            (id, true)
        }
    };
    for tag in &new.tags {
        add_tag(conn, id, tag).await?;
    }
    Ok((get(conn, id).await?, created))
}

pub async fn get(conn: &mut Conn, id: PromptId) -> Result<Prompt> {
    let row: PromptRow = sqlx::query_as(&format!("SELECT {COLUMNS} FROM prompts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("prompt", id))?;
    hydrate(conn, row).await
}

/// The project's prompts in insertion order, optionally of one split only.
pub async fn list(
    conn: &mut Conn,
    project_id: ProjectId,
    split: Option<Split>,
) -> Result<Vec<Prompt>> {
    let rows: Vec<PromptRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM prompts WHERE project_id = $1 AND ($2 IS NULL OR split = $2) ORDER BY id"
    ))
    .bind(project_id)
    .bind(split)
    .fetch_all(&mut *conn)
    .await?;
    // Every tag of the project's prompts in one query, not one query per prompt (the queue
    // lists all prompts on each "next item").
    let tag_rows: Vec<(PromptId, String)> = sqlx::query_as(
        "SELECT t.prompt_id, t.tag FROM prompt_tags t JOIN prompts p ON p.id = t.prompt_id \
         WHERE p.project_id = $1 ORDER BY t.prompt_id, t.tag",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut tags: std::collections::HashMap<PromptId, Vec<String>> =
        std::collections::HashMap::new();
    for (prompt_id, tag) in tag_rows {
        tags.entry(prompt_id).or_default().push(tag);
    }
    rows.into_iter()
        .map(|row| {
            let tags = tags.remove(&row.id).unwrap_or_default();
            prompt_of(row, tags)
        })
        .collect()
}

pub async fn count(conn: &mut Conn, project_id: ProjectId, split: Option<Split>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM prompts WHERE project_id = $1 AND ($2 IS NULL OR split = $2)",
    )
    .bind(project_id)
    .bind(split)
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn set_split(conn: &mut Conn, id: PromptId, split: Split) -> Result<()> {
    let done = sqlx::query("UPDATE prompts SET split = $1 WHERE id = $2")
        .bind(split)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("prompt", id));
    }
    Ok(())
}

pub async fn add_tag(conn: &mut Conn, prompt_id: PromptId, tag: &str) -> Result<()> {
    sqlx::query("INSERT INTO prompt_tags (prompt_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(prompt_id)
        .bind(tag)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn tags(conn: &mut Conn, prompt_id: PromptId) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT tag FROM prompt_tags WHERE prompt_id = $1 ORDER BY tag")
            .bind(prompt_id)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Rows per multi-row statement in the batch functions (SQLite allows 32,766 parameters).
pub(crate) const BATCH_ROWS: usize = 500;

/// The project's prompts with these content hashes: hash → id.
pub async fn ids_by_hash(
    conn: &mut Conn,
    project_id: ProjectId,
    hashes: &[String],
) -> Result<std::collections::HashMap<String, PromptId>> {
    let mut found = std::collections::HashMap::new();
    for chunk in hashes.chunks(BATCH_ROWS) {
        let sql = format!(
            "SELECT content_hash, id FROM prompts WHERE project_id = $1 AND content_hash IN ({})",
            dialect::params(2, chunk.len())
        );
        let mut query = sqlx::query_as(&sql).bind(project_id);
        for hash in chunk {
            query = query.bind(hash);
        }
        let rows: Vec<(String, PromptId)> = query.fetch_all(&mut *conn).await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Inserts new prompts of an import run in a few statements (tags are left to
/// [`add_tags_batch`]); returns their ids, in order. The caller has checked they are new (see [`ids_by_hash`]) and holds a write transaction
/// ([`crate::Store::begin`]): ids are assigned here ([`dialect::allocate_ids`]).
pub async fn insert_batch(
    conn: &mut Conn,
    project_id: ProjectId,
    import_id: ImportRunId,
    news: &[&NewPrompt],
) -> Result<Vec<PromptId>> {
    let ids: Vec<PromptId> = dialect::allocate_ids(conn, "prompts", news.len())
        .await?
        .into_iter()
        .map(PromptId)
        .collect();
    let mut rows = Vec::with_capacity(news.len());
    for (id, new) in ids.iter().zip(news) {
        let messages = new
            .messages
            .as_ref()
            .map(|m| to_json("prompts.messages", m))
            .transpose()?;
        rows.push((*id, *new, messages, new.content_hash()));
    }
    for chunk in rows.chunks(BATCH_ROWS) {
        let mut insert = Rows::new(
            "INSERT INTO prompts (id, project_id, text, messages, split, content_hash, import_id) ",
        );
        for (id, new, messages, hash) in chunk {
            insert.row([
                Value::from(*id),
                project_id.into(),
                new.text.as_str().into(),
                messages.clone().into(),
                new.split.as_str().into(),
                hash.clone().into(),
                import_id.into(),
            ]);
        }
        insert.execute(conn).await?;
    }
    Ok(ids)
}

/// Adds (prompt, tag) pairs; pairs already there are left as they are.
pub async fn add_tags_batch(conn: &mut Conn, tags: &[(PromptId, &str)]) -> Result<()> {
    for chunk in tags.chunks(BATCH_ROWS) {
        let mut insert = Rows::new("INSERT INTO prompt_tags (prompt_id, tag) ");
        for (id, tag) in chunk {
            insert.row([Value::from(*id), (*tag).into()]);
        }
        insert.tail("ON CONFLICT DO NOTHING");
        insert.execute(conn).await?;
    }
    Ok(())
}
