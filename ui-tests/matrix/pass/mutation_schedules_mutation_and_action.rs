//! A mutation schedules a mutation and an action (after, at, now), and cancels: the jobs
//! are written in its transaction, and each call returns the job's id.

mod notes {
    use std::time::{Duration, SystemTime};

    use convoke::{ActionCtx, MutationCtx, Result, ScheduledFunctionId, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(notes);

    #[derive(Clone, Serialize, Deserialize)]
    pub struct Cleanup {
        pub older_than_days: u32,
    }

    #[procedure(mutation)]
    pub async fn cleanup(_ctx: &MutationCtx<'_>, _args: Cleanup) -> Result<()> {
        Ok(())
    }

    #[procedure(action)]
    pub async fn notify(_ctx: &ActionCtx, _to: String) -> Result<()> {
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn plan(ctx: &MutationCtx<'_>) -> Result<Vec<ScheduledFunctionId>> {
        let caller = create_notes_caller(ctx);
        let later: ScheduledFunctionId = caller
            .schedule()
            .after(Duration::from_secs(60))
            .cleanup(Cleanup { older_than_days: 7 })
            .await?;
        let at = caller
            .schedule()
            .at(SystemTime::now())
            .notify("ada".to_owned())
            .await?;
        let now = caller.schedule().now().notify("bob".to_owned()).await?;
        caller.schedule().cancel(later).await?;
        Ok(vec![later, at, now])
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    let ids = rt.mutation(notes::plan, ()).await?;
    assert_eq!(ids.len(), 3);
    // The two due actions run; the canceled cleanup never does.
    assert_eq!(rt.run_due_scheduled_functions().await?, 2);
    Ok(())
}
