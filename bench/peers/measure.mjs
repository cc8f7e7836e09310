// The timed loop every peer case runs: awaits `call(i)` `iters` times, returns nanoseconds.

export let sink = 0;

export async function timeLoop(iters, call) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) {
    sink = await call(i);
  }
  return Number(process.hrtime.bigint() - start);
}
