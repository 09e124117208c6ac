// The REST /v1 route table: every route the gateway serves (and documents in /v1/openapi.json).
import type { RestRoute } from '../route.js';
import { agentRoutes } from './agents.js';
import { billingRoutes } from './billing.js';
import { bulkRoutes } from './bulk.js';
import { orchestrationRoutes } from './orchestrations.js';
import { generationRoutes } from './generations.js';
import { liveFeedRoutes } from './live-feeds.js';
import { keyRoutes } from './api-keys.js';
import { authRoutes } from './auth.js';
import { oauthClientRoutes } from './oauth-clients.js';
import { teamInvitationRoutes } from './team-invitations.js';
import { teamRoutes } from './teams.js';
import { projectRoutes } from './projects.js';
import { reviewRoutes } from './reviews.js';
import { scimTokenRoutes } from './scim-tokens.js';
import { visualizationRoutes } from './visualizations.js';
import { webhookRoutes } from './webhooks.js';

export const restRoutes: RestRoute[] = [
  ...agentRoutes,
  ...orchestrationRoutes,
  ...bulkRoutes,
  ...liveFeedRoutes,
  ...authRoutes,
  ...keyRoutes,
  ...teamRoutes,
  ...teamInvitationRoutes,
  ...scimTokenRoutes,
  ...oauthClientRoutes,
  ...billingRoutes,
  ...generationRoutes,
  ...projectRoutes,
  ...reviewRoutes,
  ...webhookRoutes,
  ...visualizationRoutes,
];
