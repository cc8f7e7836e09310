// The generated caller of module `bench`: what `better-convex codegen` writes to
// convex/generated/bench.runtime.ts (better-convex 0.11.0, emitGeneratedModuleRuntimeFile),
// transcribed to JavaScript: types dropped, and the lazy `require(...)` of the module and of
// `_generated/api` replaced by ES module imports (the resolvers still look the export up
// on every call, as the generated code does).
import { createGeneratedRegistryRuntime, typedProcedureResolver } from 'better-convex/server';

import { api } from '../_generated/api.mjs';
import * as benchModule from '../bench.mjs';

function createProcedureRegistry() {
  const procedureRegistry = {
    "loopAction": ["action", typedProcedureResolver(api["bench"]["loopAction"], () => benchModule["loopAction"])],
    "loopMutation": ["mutation", typedProcedureResolver(api["bench"]["loopMutation"], () => benchModule["loopMutation"])],
    "loopQuery": ["query", typedProcedureResolver(api["bench"]["loopQuery"], () => benchModule["loopQuery"])],
    "plusOne": ["query", typedProcedureResolver(api["bench"]["plusOne"], () => benchModule["plusOne"])],
    "plusOneAction": ["action", typedProcedureResolver(api["bench"]["plusOneAction"], () => benchModule["plusOneAction"])],
    "plusOneMut": ["mutation", typedProcedureResolver(api["bench"]["plusOneMut"], () => benchModule["plusOneMut"])],
  };

  const handlerRegistry = procedureRegistry;

  return {
    procedureRegistry,
    handlerRegistry,
  };
}

const generatedRuntime = createGeneratedRegistryRuntime(createProcedureRegistry);

export function createBenchCaller(ctx) {
  return generatedRuntime.getCallerFactory()(ctx);
}

export function createBenchHandler(ctx) {
  return generatedRuntime.getHandlerFactory()(ctx);
}
