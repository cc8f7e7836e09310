// tRPC v11: the trivial procedure (`input.id + 1`, async like convoke's handlers) called
// through `createCaller`, from inside an outer procedure, as a composed call would be.
import { initTRPC } from '@trpc/server';
import { z } from 'zod';

import { timeLoop } from './measure.mjs';

const t = initTRPC.context().create();

/** The handler, shared by every procedure below and called directly by the floor case. */
export const plusOneHandler = async ({ input }) => input.id + 1;

/** An input "parser" that validates nothing: tRPC's cheapest way to receive input. */
const noValidation = (raw) => raw;
const zInput = z.object({ id: z.number() });

const router = t.router({
  plusOne: t.procedure.input(noValidation).query(plusOneHandler),
  plusOneZod: t.procedure.input(zInput).query(plusOneHandler),
  plusOneMut: t.procedure.input(noValidation).mutation(plusOneHandler),
  plusOneMutZod: t.procedure.input(zInput).mutation(plusOneHandler),
  // The outer procedure: runs a case's loop with its own ctx and returns the loop's time.
  loop: t.procedure.input(noValidation).query(({ ctx, input }) => loops[input.case](ctx, input.iters)),
});

const createCaller = t.createCallerFactory(router);

const loops = {
  // The floor: the same handler awaited directly, with the same ctx.
  'js/floor': (ctx, iters) => timeLoop(iters, (id) => plusOneHandler({ ctx, input: { id } })),
  'trpc/query': (ctx, iters) => {
    const caller = createCaller(ctx);
    return timeLoop(iters, (id) => caller.plusOne({ id }));
  },
  'trpc/query_per_call': (ctx, iters) => timeLoop(iters, (id) => createCaller(ctx).plusOne({ id })),
  'trpc/query_zod': (ctx, iters) => {
    const caller = createCaller(ctx);
    return timeLoop(iters, (id) => caller.plusOneZod({ id }));
  },
  'trpc/mutation': (ctx, iters) => {
    const caller = createCaller(ctx);
    return timeLoop(iters, (id) => caller.plusOneMut({ id }));
  },
  'trpc/mutation_zod': (ctx, iters) => {
    const caller = createCaller(ctx);
    return timeLoop(iters, (id) => caller.plusOneMutZod({ id }));
  },
};

const rootCtx = { user: null };

/** Runs `iters` calls of a case inside the outer procedure; returns nanoseconds. */
export const trpcCases = Object.fromEntries(
  Object.keys(loops).map((name) => [
    name,
    (iters) => createCaller(rootCtx).loop({ case: name, iters }),
  ]),
);
