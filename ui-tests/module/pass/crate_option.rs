//! `crate = ".."` on all three macros: generated code reaches the runtime through the given
//! path, here a re-export of convoke under another name.

mod reexport {
    pub use ::convoke as inner;
}

mod notes {
    use crate::reexport::inner::{Id, MutationCtx, QueryCtx, Result, Table, procedure};

    crate::reexport::inner::module!(notes, crate = "crate::reexport::inner");

    #[derive(serde::Serialize, serde::Deserialize, Table)]
    #[table(crate = "crate::reexport::inner", name = "notes", index(by_text = ["text"]))]
    pub struct Note {
        pub text: String,
    }

    #[procedure(mutation, crate = "crate::reexport::inner")]
    pub async fn add(ctx: &MutationCtx<'_>, text: String) -> Result<Id<Note>> {
        Ok(ctx.db().insert(&Note { text }).await?)
    }

    #[procedure(query, internal, crate = "crate::reexport::inner", name = "countNotes")]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<usize> {
        Ok(ctx.db().query::<Note>().collect().await?.len())
    }

    #[procedure(mutation, crate = "crate::reexport::inner")]
    pub async fn add_and_count(ctx: &MutationCtx<'_>, text: String) -> Result<usize> {
        let notes = create_notes_caller(ctx);
        notes.add(text).await?;
        notes.count().await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    use convoke::Table;
    assert_eq!(notes::Note::NAME, "notes");
    assert_eq!(notes::Note::INDEXES, &[("by_text", &["text"][..])]);
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.mutation(notes::add_and_count, "one".to_owned()).await?, 1);
    assert_eq!(rt.run("notes:countNotes", serde_json::json!({})).await?, 1);
    Ok(())
}
