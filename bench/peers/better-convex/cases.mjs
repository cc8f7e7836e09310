// better-convex cases: the outer procedure is run as a deployment would run it (its
// `_handler` with a context of its kind), and composes through `createBenchCaller(ctx)`.
import * as bench from './bench.mjs';
import { actionCtx, mutationCtx, queryCtx } from './contexts.mjs';

const outer = {
  'better-convex/query_ctx_query': [bench.loopQuery, queryCtx],
  'better-convex/mutation_ctx_query': [bench.loopMutation, mutationCtx],
  'better-convex/mutation_ctx_mutation': [bench.loopMutation, mutationCtx],
  'better-convex/action_ctx_query': [bench.loopAction, actionCtx],
  'better-convex/action_ctx_mutation': [bench.loopAction, actionCtx],
  'better-convex/action_ctx_action': [bench.loopAction, actionCtx],
};

/** Runs `iters` calls of a case inside the outer procedure; returns nanoseconds. */
export const betterConvexCases = Object.fromEntries(
  Object.entries(outer).map(([name, [procedure, ctx]]) => [
    name,
    (iters) => procedure._handler(ctx, { case: name, iters }),
  ]),
);
