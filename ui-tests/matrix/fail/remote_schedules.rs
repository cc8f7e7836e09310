mod notes {
    use convoke::{MutationCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(mutation)]
    pub async fn clear(_ctx: &MutationCtx<'_>) -> Result<()> {
        Ok(())
    }
}

async fn from_server_code(remote: &convoke::remote::RemoteCtx) -> convoke::Result<()> {
    notes::create_notes_caller(remote).schedule().now().clear().await?;
    Ok(())
}

fn main() {
    let _ = from_server_code;
}
