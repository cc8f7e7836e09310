mod notes {
    use convoke::{QueryCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(query, internal)]
    pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u64> {
        Ok(0)
    }
}

async fn from_server_code(remote: &convoke::remote::RemoteCtx) -> convoke::Result<u64> {
    notes::create_notes_caller(remote).count().await
}

fn main() {
    let _ = from_server_code;
}
