// The GraphQL schema: every type module registers itself on the builder.
import { builder } from './builder.js';
import './types/scalars.js';
import './types/viewer.js';
import './types/task.js';
import './types/task-filter.js';
import './types/identity.js';
import './types/teams.js';
import './types/scim-tokens.js';
import './types/billing.js';
import './types/orchestration.js';
import './types/task-filter.js';
import './types/rerun.js';
import './types/bulk-operation.js';
import './types/task-updates.js';
import './types/generation.js';
import './types/project.js';
import './types/review.js';
import './types/webhook.js';
import './types/visualization.js';

// Root types carry the default rule; fields add theirs (sign-in fields skip the type's rule).
builder.queryType({ authScopes: { authenticated: true } });
builder.mutationType({ authScopes: { write: true } });
builder.subscriptionType({ authScopes: { read: true } });

export const schema = builder.toSchema({ sortSchema: false });
