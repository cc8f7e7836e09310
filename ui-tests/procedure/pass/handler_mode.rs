//! A procedure function called directly inside another handler ("handler mode"): no caller,
//! no new transaction, just the function.

mod notes {
    use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(notes);

    #[derive(Clone, Serialize, Deserialize)]
    pub struct Scale {
        pub n: i64,
    }

    #[procedure(query)]
    pub async fn double(_ctx: &QueryCtx<'_>, args: Scale) -> Result<i64> {
        Ok(args.n * 2)
    }

    #[procedure(query)]
    pub async fn quadruple(ctx: &QueryCtx<'_>, args: Scale) -> Result<i64> {
        let n = double(ctx, args).await?;
        double(ctx, Scale { n }).await
    }

    #[procedure(mutation)]
    pub async fn store(_ctx: &MutationCtx<'_>, args: Scale) -> Result<i64> {
        Ok(args.n)
    }

    #[procedure(mutation)]
    pub async fn store_twice(ctx: &MutationCtx<'_>, args: Scale) -> Result<i64> {
        Ok(store(ctx, args.clone()).await? + store(ctx, args).await?)
    }

    #[procedure(action)]
    pub async fn greet(_ctx: &ActionCtx) -> Result<String> {
        Ok("hello".to_owned())
    }

    #[procedure(action)]
    pub async fn greet_loudly(ctx: &ActionCtx) -> Result<String> {
        Ok(greet(ctx).await?.to_uppercase())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> convoke::Result<()> {
    let rt = convoke::Runtime::in_memory()?;
    assert_eq!(rt.query(notes::quadruple, notes::Scale { n: 2 }).await?, 8);
    assert_eq!(
        rt.mutation(notes::store_twice, notes::Scale { n: 2 })
            .await?,
        4
    );
    assert_eq!(rt.action(notes::greet_loudly, ()).await?, "HELLO");
    Ok(())
}
