// What `convex codegen` writes to convex/_generated/api.js: untyped function references.
export { anyApi as api, anyApi as internal } from 'convex/server';
