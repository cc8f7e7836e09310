//! An action calls another action through `actions()`.

mod notes {
    use convoke::{ActionCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(action)]
    pub async fn greet(_ctx: &ActionCtx, name: String) -> Result<String> {
        Ok(format!("hello, {name}"))
    }

    #[procedure(action)]
    pub async fn greet_twice(ctx: &ActionCtx, name: String) -> Result<String> {
        let actions = create_notes_caller(ctx).actions();
        let first = actions.greet(name.clone()).await?;
        let second = actions.greet(name).await?;
        Ok(format!("{first}; {second}"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    let out = rt.action(notes::greet_twice, "ada".to_owned()).await?;
    assert_eq!(out, "hello, ada; hello, ada");
    Ok(())
}
