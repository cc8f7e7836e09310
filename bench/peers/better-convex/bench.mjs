// The procedures of module `bench` (what would be convex/bench.ts), written with
// better-convex's cRPC builders. better-convex always validates arguments with zod: its
// builder turns the input schema into Convex argument validators and parses with zod.
import { initCRPC } from 'better-convex/server';
import { z } from 'zod';

import { timeLoop } from '../measure.mjs';
import { createBenchCaller } from './generated/bench.runtime.mjs';

const c = initCRPC.create();

const input = z.object({ id: z.number() });
const loopInput = z.object({ case: z.string(), iters: z.number() });

/** The handler, as convoke's: async, returns `input.id + 1`. */
export const plusOneHandler = async ({ input }) => input.id + 1;

export const plusOne = c.query.input(input).query(plusOneHandler);
export const plusOneMut = c.mutation.input(input).mutation(plusOneHandler);
export const plusOneAction = c.action.input(input).action(plusOneHandler);

// The outer procedures: each runs a case's loop with the ctx it receives.
export const loopQuery = c.query.input(loopInput).query(({ ctx, input }) => loops[input.case](ctx, input.iters));
export const loopMutation = c.mutation.input(loopInput).mutation(({ ctx, input }) => loops[input.case](ctx, input.iters));
export const loopAction = c.action.input(loopInput).action(({ ctx, input }) => loops[input.case](ctx, input.iters));

const loops = {
  'better-convex/query_ctx_query': (ctx, iters) => timeLoop(iters, (id) => createBenchCaller(ctx).plusOne({ id })),
  'better-convex/mutation_ctx_query': (ctx, iters) => timeLoop(iters, (id) => createBenchCaller(ctx).plusOne({ id })),
  'better-convex/mutation_ctx_mutation': (ctx, iters) => timeLoop(iters, (id) => createBenchCaller(ctx).plusOneMut({ id })),
  'better-convex/action_ctx_query': (ctx, iters) => timeLoop(iters, (id) => createBenchCaller(ctx).plusOne({ id })),
  'better-convex/action_ctx_mutation': (ctx, iters) => timeLoop(iters, (id) => createBenchCaller(ctx).plusOneMut({ id })),
  'better-convex/action_ctx_action': (ctx, iters) => timeLoop(iters, (id) => createBenchCaller(ctx).actions.plusOneAction({ id })),
};
