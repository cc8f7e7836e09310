//! An action schedules a mutation and an action (now, after, at), and cancels: each call
//! returns the id of a job in `_scheduled_functions`, written at once.

mod notes {
    use std::time::{Duration, SystemTime};

    use convoke::{ActionCtx, MutationCtx, Result, ScheduledFunctionId, procedure};

    convoke::module!(notes);

    #[procedure(mutation)]
    pub async fn cleanup(_ctx: &MutationCtx<'_>) -> Result<()> {
        Ok(())
    }

    #[procedure(action)]
    pub async fn notify(_ctx: &ActionCtx, _to: String) -> Result<()> {
        Ok(())
    }

    #[procedure(action)]
    pub async fn plan(ctx: &ActionCtx) -> Result<Vec<ScheduledFunctionId>> {
        let caller = create_notes_caller(ctx);
        let now = caller.schedule().now().cleanup().await?;
        let later = caller
            .schedule()
            .after(Duration::from_millis(10))
            .notify("ada".to_owned())
            .await?;
        let at = caller.schedule().at(SystemTime::now()).cleanup().await?;
        caller.schedule().cancel(now).await?;
        Ok(vec![now, later, at])
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    let ids = rt.action(notes::plan, ()).await?;
    assert_eq!(ids.len(), 3);
    // The canceled job never runs; the other two are due within 10 ms.
    let mut ran = 0;
    while ran < 2 {
        ran += rt.run_due_scheduled_functions().await?;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(ran, 2);
    Ok(())
}
