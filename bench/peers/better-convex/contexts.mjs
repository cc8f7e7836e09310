// Plain-object contexts standing in for a Convex deployment's: `runQuery`, `runMutation`
// and `runAction` call the referenced handler in-process, with a context of its kind, the
// way a deployment would run it in its own transaction (here: no database at all).
import { getFunctionName } from 'convex/server';

import * as benchModule from './bench.mjs';

function lookUp(reference) {
  const [module, name] = getFunctionName(reference).split(':');
  if (module !== 'bench') throw new Error(`no module ${module}`);
  return benchModule[name];
}

// What the procedures use of `db` is nothing: it only has to be there, as in Convex.
const db = { get: async () => null, query: () => { throw new Error('unused'); } };
const auth = { getUserIdentity: async () => null };
const storage = {};
const scheduler = {
  runAfter: async () => 'scheduled',
  runAt: async () => 'scheduled',
  cancel: async () => {},
};

const runQuery = (reference, args) => lookUp(reference)._handler(queryCtx, args);
const runMutation = (reference, args) => lookUp(reference)._handler(mutationCtx, args);
const runAction = (reference, args) => lookUp(reference)._handler(actionCtx, args);

export const queryCtx = { db, auth, storage, runQuery };
export const mutationCtx = { db, auth, storage, scheduler, runQuery, runMutation };
export const actionCtx = { auth, storage, scheduler, runQuery, runMutation, runAction };
