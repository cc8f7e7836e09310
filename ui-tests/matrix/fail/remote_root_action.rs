mod notes {
    use convoke::{ActionCtx, Result, procedure};

    convoke::module!(notes);

    #[procedure(action)]
    pub async fn send(_ctx: &ActionCtx) -> Result<()> {
        Ok(())
    }
}

async fn from_server_code(remote: &convoke::remote::RemoteCtx) -> convoke::Result<()> {
    notes::create_notes_caller(remote).send().await
}

fn main() {
    let _ = from_server_code;
}
