//! An action schedules a mutation and an action, and cancels.

mod notes {
    use std::time::{Duration, SystemTime};

    use convoke::{ActionCtx, MutationCtx, Result, procedure};

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
    pub async fn plan(ctx: &ActionCtx) -> Result<()> {
        let caller = create_notes_caller(ctx);
        let scheduled = async {
            let id = caller.schedule().now().cleanup().await?;
            caller
                .schedule()
                .after(Duration::from_millis(10))
                .notify("ada".to_owned())
                .await?;
            caller.schedule().at(SystemTime::now()).cleanup().await?;
            caller.schedule().cancel(id).await
        };
        match scheduled.await {
            Ok(()) => Ok(()),
            Err(e) if e.is_scheduler_not_enabled() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    rt.action(notes::plan, ()).await
}
