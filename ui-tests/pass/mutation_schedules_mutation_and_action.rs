//! A mutation schedules a mutation and an action (after, at, now), and cancels.

mod notes {
    use std::time::{Duration, SystemTime};

    use convoke::{ActionCtx, MutationCtx, Result, procedure};
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
    pub async fn plan(ctx: &MutationCtx<'_>) -> Result<()> {
        let caller = create_notes_caller(ctx);
        let scheduled = async {
            let id = caller
                .schedule()
                .after(Duration::from_secs(60))
                .cleanup(Cleanup { older_than_days: 7 })
                .await?;
            caller
                .schedule()
                .at(SystemTime::now())
                .notify("ada".to_owned())
                .await?;
            caller.schedule().now().notify("bob".to_owned()).await?;
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
    rt.mutation(notes::plan, ()).await
}
