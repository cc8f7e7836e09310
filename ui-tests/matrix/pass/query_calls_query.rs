//! A query calls another query: same transaction.

mod notes {
    use convoke::{QueryCtx, Result, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(notes);

    #[derive(Serialize, Deserialize)]
    pub struct Double {
        pub n: i64,
    }

    #[procedure(query)]
    pub async fn double(_ctx: &QueryCtx<'_>, args: Double) -> Result<i64> {
        Ok(args.n * 2)
    }

    #[procedure(query)]
    pub async fn quadruple(ctx: &QueryCtx<'_>, args: Double) -> Result<i64> {
        let caller = create_notes_caller(ctx);
        let twice = caller.double(args).await?;
        caller.double(Double { n: twice }).await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    let n = rt.query(notes::quadruple, notes::Double { n: 3 }).await?;
    assert_eq!(n, 12);
    Ok(())
}
