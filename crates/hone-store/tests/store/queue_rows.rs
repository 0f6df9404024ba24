//! What the queue's index reads: rows after a watermark, the judgments changed (deleted,
//! superseded, current again) after a change number, and the revision that triggers bump when
//! a prompt or response goes away (and only then).

use hone_store::judgments;
use hone_store::queue_rows::{self, Rows};
use hone_store::responses;
use hone_store::{Conn, JudgmentKind, ProjectId};

use crate::{open_store, seed, thumbs};

async fn revision(conn: &mut Conn, project_id: ProjectId) -> i64 {
    queue_rows::revision(conn, project_id).await.unwrap()
}

#[tokio::test]
async fn rows_after_a_watermark_changes_logged_and_a_revision_moved_by_deletions() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "law", 3).await;
    let other = seed(&mut conn, "medicine", 2).await;

    // Rows after a watermark, of this project only.
    let prompts = queue_rows::prompts_after(&mut conn, s.project_id, 0, Rows::Plain)
        .await
        .unwrap();
    assert_eq!(
        prompts.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![s.prompt_id]
    );
    let after_first =
        queue_rows::responses_after(&mut conn, s.project_id, s.response_ids[0].0, Rows::Plain)
            .await
            .unwrap();
    assert_eq!(
        after_first.iter().map(|r| r.id).collect::<Vec<_>>(),
        s.response_ids[1..].to_vec(),
        "the other project's responses are not listed"
    );
    assert!(after_first
        .iter()
        .all(|r| !r.empty && r.import_id.is_none()));

    // Inserting moves nothing; the new judgment is read after the watermark.
    let first = thumbs(&mut conn, &s, 0, true).await;
    let second = thumbs(&mut conn, &s, 1, true).await;
    assert_eq!(revision(&mut conn, s.project_id).await, 0);
    let new = queue_rows::judgments_after(
        &mut conn,
        s.project_id,
        JudgmentKind::Thumbs,
        first.0,
        Rows::Plain,
    )
    .await
    .unwrap();
    assert_eq!(
        new.iter().map(|(j, run)| (j.id, *run)).collect::<Vec<_>>(),
        vec![(second, None)]
    );

    // A re-judgment (supersede) is logged as a change of the superseded judgment, and moves
    // no revision; the superseded judgment is no longer listed.
    assert_eq!(
        queue_rows::last_change(&mut conn, s.project_id)
            .await
            .unwrap(),
        0
    );
    judgments::supersede(&mut conn, first, second)
        .await
        .unwrap();
    assert_eq!(revision(&mut conn, s.project_id).await, 0);
    let changes = queue_rows::changes_after(&mut conn, s.project_id, 0)
        .await
        .unwrap();
    assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), vec![first]);
    let listed = queue_rows::judgments_after(
        &mut conn,
        s.project_id,
        JudgmentKind::Thumbs,
        0,
        Rows::Plain,
    )
    .await
    .unwrap();
    assert_eq!(
        listed.iter().map(|(j, _)| j.id).collect::<Vec<_>>(),
        vec![second]
    );
    // Undoing the re-judgment deletes it and brings the old one back (its `superseded_by`
    // is cleared by the foreign key): two changes, read after the first.
    judgments::delete(&mut conn, second).await.unwrap();
    let mut later: Vec<hone_store::JudgmentId> =
        queue_rows::changes_after(&mut conn, s.project_id, changes[0].0)
            .await
            .unwrap()
            .iter()
            .map(|c| c.1)
            .collect();
    later.sort_unstable();
    assert_eq!(later, vec![first, second]);
    assert_eq!(
        queue_rows::last_change(&mut conn, s.project_id)
            .await
            .unwrap(),
        changes[0].0 + 2
    );
    // The annotator's current judgments on the prompt: the one brought back.
    let current = judgments::list_current_by_on_prompt(
        &mut conn,
        s.prompt_id,
        s.annotator_id,
        JudgmentKind::Thumbs,
    )
    .await
    .unwrap();
    assert_eq!(
        current.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![first]
    );

    // SQLite gives the next judgment the undone one's id (it numbers after the largest left):
    // a queue that read past that id must be told, and is. PostgreSQL never gives an id twice.
    let mark = queue_rows::last_change(&mut conn, s.project_id)
        .await
        .unwrap();
    let third = thumbs(&mut conn, &s, 1, true).await;
    let reused = store.backend() == hone_store::Backend::Sqlite;
    assert_eq!(
        third == second,
        reused,
        "precondition: ids reused only by SQLite"
    );
    assert_eq!(
        queue_rows::changes_after(&mut conn, s.project_id, mark)
            .await
            .unwrap()
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>(),
        if reused { vec![third] } else { vec![] }
    );
    // A judgment under a fresh id is not a change.
    let mark = queue_rows::last_change(&mut conn, s.project_id)
        .await
        .unwrap();
    thumbs(&mut conn, &s, 0, true).await;
    assert_eq!(
        queue_rows::last_change(&mut conn, s.project_id)
            .await
            .unwrap(),
        mark
    );
    assert!(queue_rows::changes_after(&mut conn, other.project_id, 0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(revision(&mut conn, s.project_id).await, 0);
    // A response deleted moves its project's revision, not another's.
    assert!(responses::delete_if_unjudged(&mut conn, s.response_ids[2])
        .await
        .unwrap());
    assert_eq!(revision(&mut conn, s.project_id).await, 1);
    assert_eq!(revision(&mut conn, other.project_id).await, 0);
    assert!(queue_rows::unfinished_imports(&mut conn, s.project_id)
        .await
        .unwrap()
        .is_empty());
}

fn prompt(text: &str) -> hone_store::prompts::NewPrompt {
    hone_store::prompts::NewPrompt {
        text: text.into(),
        messages: None,
        split: hone_store::Split::Train,
        tags: vec![],
    }
}

/// The queue reads rows "after the largest id it has seen", so ids must become visible in the
/// order they were given: an insert outside a write transaction waits for the writer's turn
/// before it draws its id (SQLite: one writer at a time; PostgreSQL: the store's advisory
/// lock, which a trigger takes before the insert draws its id), and so comes after.
#[tokio::test]
async fn an_insert_outside_a_write_transaction_draws_its_id_after_the_writer_commits() {
    let (_dir, store) = open_store().await;
    let project_id = seed(&mut store.conn().await.unwrap(), "order", 1)
        .await
        .project_id;
    let mut tx = store.begin().await.unwrap();
    let (inside, _) = hone_store::prompts::insert_or_get(&mut tx, project_id, &prompt("inside"))
        .await
        .unwrap();
    let outside = tokio::spawn({
        let store = store.clone();
        async move {
            let mut conn = store.conn().await.unwrap();
            hone_store::prompts::insert_or_get(&mut conn, project_id, &prompt("outside"))
                .await
                .unwrap()
                .0
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !outside.is_finished(),
        "the insert outside must wait while the writer's transaction is open"
    );
    tx.commit().await.unwrap();
    let outside = outside.await.unwrap();
    assert!(
        outside.id > inside.id,
        "the later commit has the larger id: {} after {}",
        outside.id,
        inside.id
    );
}

async fn moved(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: JudgmentKind,
    marks: hone_store::queue_rows::Watermarks,
) -> hone_store::queue_rows::Moved {
    queue_rows::moved(conn, project_id, kind, marks)
        .await
        .unwrap()
}

/// `moved` says, in one statement, whether each query the index's refresh may skip would find
/// something past the watermarks: each field turns on with its own kind of row, and only then.
#[tokio::test]
async fn moved_flags_each_table_past_its_watermark_and_only_that_one() {
    use hone_store::queue_rows::{Moved, TableMarks, Watermarks};
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "law", 2).await;
    let other = seed(&mut conn, "medicine", 2).await;
    let largest = TableMarks {
        prompt: s.prompt_id.max(other.prompt_id).0,
        response: other
            .response_ids
            .iter()
            .chain(&s.response_ids)
            .max()
            .unwrap()
            .0,
        judgment: 0,
    };
    let marks = Watermarks {
        change: queue_rows::last_change(&mut conn, s.project_id)
            .await
            .unwrap(),
        plain: largest,
        imported: largest,
    };
    let both = |marks: Watermarks, set: fn(&mut TableMarks, i64), id: i64| {
        let mut marks = marks;
        set(&mut marks.plain, id);
        set(&mut marks.imported, id);
        marks
    };
    let still = Moved {
        revision: 0,
        changes: false,
        last_prompt: None,
        last_response: None,
        last_judgment: None,
        imported_prompts: false,
        imported_responses: false,
        imported_judgments: false,
        imports_running: false,
    };
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        still
    );
    // Another project's rows move nothing here.
    thumbs(&mut conn, &other, 0, true).await;
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        still
    );
    // A judgment of the kind, past the watermark; not one of another kind.
    let judged = thumbs(&mut conn, &s, 0, true).await;
    let now = moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await;
    assert_eq!(
        now,
        Moved {
            last_judgment: Some(judged.0),
            ..still
        }
    );
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Rating, marks).await,
        still
    );
    let marks = both(marks, |m, id| m.judgment = id, judged.0);
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        still
    );
    // A prompt and a response of the project past theirs.
    let (prompt, _) = hone_store::prompts::insert_or_get(&mut conn, s.project_id, &prompt("new"))
        .await
        .unwrap();
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        Moved {
            last_prompt: Some(prompt.id.0),
            ..still
        }
    );
    let marks = both(marks, |m, id| m.prompt = id, prompt.id.0);
    let response = responses::insert(
        &mut conn,
        &responses::NewResponse::new(prompt.id, "an answer", hone_store::ResponseSource::Human),
    )
    .await
    .unwrap();
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        Moved {
            last_response: Some(response.id.0),
            ..still
        }
    );
    let marks = both(marks, |m, id| m.response = id, response.id.0);
    // A judgment undone: logged as a change.
    judgments::delete(&mut conn, judged).await.unwrap();
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        Moved {
            changes: true,
            ..still
        }
    );
    let marks = Watermarks {
        change: queue_rows::last_change(&mut conn, s.project_id)
            .await
            .unwrap(),
        ..marks
    };
    // An import running, and a prompt it wrote: past both marks, then past the imported one
    // only (the plain mark moved on, the import's rows left for later).
    let run = hone_store::imports::start(&mut conn, s.project_id, "pairs.jsonl", "importer")
        .await
        .unwrap();
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        Moved {
            imports_running: true,
            ..still
        }
    );
    let imported = hone_store::prompts::insert_batch(
        &mut conn,
        s.project_id,
        run,
        &[&self::prompt("imported")],
    )
    .await
    .unwrap()[0];
    let running = Moved {
        imports_running: true,
        ..still
    };
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        Moved {
            last_prompt: Some(imported.0),
            imported_prompts: true,
            ..running
        }
    );
    let mut marks = marks;
    marks.plain.prompt = imported.0;
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        Moved {
            imported_prompts: true,
            ..running
        }
    );
    marks.imported.prompt = imported.0;
    assert_eq!(
        moved(&mut conn, s.project_id, JudgmentKind::Thumbs, marks).await,
        running
    );
}

/// A refresh reads the rows no import wrote whole and an import's rows a bounded slice at a
/// time; each list holds only its own kind of row.
#[tokio::test]
async fn plain_rows_are_read_whole_and_an_imports_a_slice_at_a_time() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "law", 2).await;
    let run = hone_store::imports::start(&mut conn, s.project_id, "pairs.jsonl", "importer")
        .await
        .unwrap();
    let news: Vec<hone_store::prompts::NewPrompt> =
        (0..3).map(|i| prompt(&format!("imported {i}"))).collect();
    let news: Vec<&hone_store::prompts::NewPrompt> = news.iter().collect();
    let imported = hone_store::prompts::insert_batch(&mut conn, s.project_id, run, &news)
        .await
        .unwrap();
    let (later, _) =
        hone_store::prompts::insert_or_get(&mut conn, s.project_id, &prompt("by hand"))
            .await
            .unwrap();
    let ids = |rows: Vec<queue_rows::PromptRow>| rows.iter().map(|p| p.id).collect::<Vec<_>>();
    let plain = queue_rows::prompts_after(&mut conn, s.project_id, 0, Rows::Plain)
        .await
        .unwrap();
    assert_eq!(ids(plain), vec![s.prompt_id, later.id]);
    let two = Rows::Imported { limit: Some(2) };
    let first = queue_rows::prompts_after(&mut conn, s.project_id, 0, two)
        .await
        .unwrap();
    assert!(first.iter().all(|p| p.import_id == Some(run)));
    assert_eq!(ids(first), imported[..2].to_vec());
    let rest = queue_rows::prompts_after(&mut conn, s.project_id, imported[1].0, two)
        .await
        .unwrap();
    assert_eq!(ids(rest), imported[2..].to_vec());
    let all = Rows::Imported { limit: None };
    let whole = queue_rows::prompts_after(&mut conn, s.project_id, 0, all)
        .await
        .unwrap();
    assert_eq!(ids(whole), imported);
}

/// Rows an undone import keeps (another's judgment refers to them) are released from the run:
/// the queue reads rows of no import by another watermark, so the revision moves.
#[tokio::test]
async fn releasing_an_undone_imports_rows_moves_the_revision() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "law", 1).await;
    let run = hone_store::imports::start(&mut conn, s.project_id, "pairs.jsonl", "importer")
        .await
        .unwrap();
    hone_store::imports::mark_rolled_back(&mut conn, run, "nothing to release")
        .await
        .unwrap();
    assert_eq!(
        revision(&mut conn, s.project_id).await,
        0,
        "nothing released"
    );
    let run = hone_store::imports::start(&mut conn, s.project_id, "pairs.jsonl", "importer")
        .await
        .unwrap();
    let kept = hone_store::prompts::insert_batch(&mut conn, s.project_id, run, &[&prompt("kept")])
        .await
        .unwrap()[0];
    hone_store::imports::mark_rolled_back(&mut conn, run, "cut")
        .await
        .unwrap();
    let rows = queue_rows::prompts_after(&mut conn, s.project_id, 0, Rows::Plain)
        .await
        .unwrap();
    assert!(
        rows.iter().any(|p| p.id == kept),
        "released: a row of no import"
    );
    assert_eq!(revision(&mut conn, s.project_id).await, 1);
}
