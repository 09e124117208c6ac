// The GraphQL schema: every type module registers itself on the builder.
import { builder } from './builder.js';
import './types/scalars.js';
import './types/viewer.js';
import './types/task.js';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema = builder.toSchema({ sortSchema: false });
