// `module!` takes the module's name, then optionally `crate = ".."`; every mistake is
// reported, and the caller types are still declared, so the procedures add no errors.
mod notes {
    use convoke::{QueryCtx, Result, procedure};

    convoke::module!(notes, krate = "::convoke", crate = convoke);

    #[procedure(query)]
    pub async fn count(ctx: &QueryCtx<'_>) -> Result<u64> {
        let _ = create_notes_caller(ctx);
        Ok(0)
    }
}

mod other {
    convoke::module!("other");
}

mod third {
    convoke::module!(third; crate = "::convoke");
}

fn main() {}
