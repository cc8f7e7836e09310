mod notes {
    use convoke::{QueryCtx, Result, ScheduledFunctionId, procedure};

    convoke::module!(notes);

    #[procedure(query)]
    pub async fn stop(ctx: &QueryCtx<'_>, id: ScheduledFunctionId) -> Result<()> {
        create_notes_caller(ctx).schedule().cancel(id).await
    }
}

fn main() {}
