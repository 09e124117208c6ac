// Prisma CLI configuration. Migrations are applied by `npm run db:migrate` (src/db/migrate.ts),
// which needs no native engine; `prisma migrate deploy` also works where that engine is installed.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
