import { callerOf } from '../../src/context.js';
import { NotFoundError } from '../../src/errors.js';
import type { User } from '../../src/generated/prisma/client.js';
import { idKind } from '../../src/ids.js';
import { builder } from '../builder.js';
import { mayRead } from '../../src/services/auth/read-resources.js';

export const UserRef = builder.objectRef<User>('User');

builder.node(UserRef, {
  description: 'A person or service account.',
  id: { resolve: (user) => user.id },
  // Yourself, or someone who shares a team with you; anyone else is not found.
  loadOne: async (id, ctx) => {
    const caller = callerOf(ctx);
    const visible =
      idKind(id) === 'user' &&
      (id === caller.userId ||
        (mayRead(caller, 'team_members') &&
          (await ctx.deps.db.teamMember.count({ where: { userId: id, team: { members: { some: { userId: caller.userId } } } } })) > 0));
    if (!visible) throw new NotFoundError('user', id);
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
    resolve: (_root, _args, ctx) => ctx.deps.db.user.findUniqueOrThrow({ where: { id: callerOf(ctx).userId } }),
  }),
);
