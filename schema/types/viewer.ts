import { NotFoundError } from '../../src/errors.js';
import type { User } from '../../src/generated/prisma/client.js';
import { builder } from '../builder.js';

export const UserRef = builder.objectRef<User>('User');

builder.node(UserRef, {
  description: 'A person or service account.',
  id: { resolve: (user) => user.id },
  loadOne: async (id, ctx) => {
    if (id !== ctx.principal.userId) throw new NotFoundError('user', id);
    return ctx.deps.db.user.findUniqueOrThrow({ where: { id } });
  },
  fields: (t) => ({
    name: t.exposeString('name'),
    email: t.exposeString('email', { nullable: true }),
    tier: t.exposeString('tier', { description: 'Plan tier: free, pro, team or enterprise.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (user) => user.createdAt }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: UserRef,
    description: 'The authenticated caller.',
    resolve: (_root, _args, ctx) => ctx.deps.db.user.findUniqueOrThrow({ where: { id: ctx.principal.userId } }),
  }),
);
