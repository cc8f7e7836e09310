//! `name = ".."` renames the exported procedure; Rust callers keep the function's name.

mod notes {
    use convoke::{Procedure, QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query, name = "getCount")]
    pub async fn get_count(_ctx: &QueryCtx<'_>) -> Result<i64> {
        Ok(3)
    }

    #[procedure(query, internal, name = "_double_count")]
    pub async fn double_count(ctx: &QueryCtx<'_>) -> Result<i64> {
        Ok(create_notes_caller(ctx).get_count().await? * 2)
    }

    pub fn names() -> [&'static str; 2] {
        [get_count::path(), double_count::path()]
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    assert_eq!(notes::names(), ["notes:getCount", "notes:_double_count"]);
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.run("notes:getCount", serde_json::json!({})).await?, 3);
    assert_eq!(
        rt.run("notes:_double_count", serde_json::json!({})).await?,
        6
    );
    assert!(
        rt.run("notes:get_count", serde_json::json!({}))
            .await
            .is_err()
    );
    Ok(())
}
