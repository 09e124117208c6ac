import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationsDir, schemaPath } from '../../src/db/schema-engine.js';
import { SNAPSHOT, diffDatamodels, latestSnapshot, migrationFolders, writeMigration } from '../../src/db/write-migration.js';

const scratch: string[] = [];
afterAll(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

const snapshotsIn = (dir: string) => readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && existsSync(join(dir, e.name, SNAPSHOT))).map((e) => e.name);

describe('migrations', () => {
  it('keep one schema snapshot, beside the last migration', async () => {
    const folders = await migrationFolders(migrationsDir);
    expect(snapshotsIn(migrationsDir)).toEqual([folders.at(-1)]);
  });

  it('cover prisma/schema.prisma: the last snapshot differs from it by no SQL', async () => {
    const sql = await diffDatamodels(await latestSnapshot(migrationsDir), readFileSync(schemaPath, 'utf8'));
    // A schema change without `npm run db:migration -- <name>`, or a merge of two branches' migrations
    // (the earlier branch's snapshot is stale), shows here as the SQL still to write.
    expect(sql).toBe('');
  }, 120_000);

  it('are written by the tool, which moves the snapshot forward', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codex-migrations-'));
    scratch.push(dir);
    const migrations = join(dir, 'migrations');
    cpSync(migrationsDir, migrations, { recursive: true });
    const schema = join(dir, 'schema.prisma');
    const before = await migrationFolders(migrations);

    writeFileSync(schema, readFileSync(schemaPath, 'utf8'));
    expect(await writeMigration({ migrationsDir: migrations, schemaPath: schema, name: 'nothing' })).toBeNull();

    writeFileSync(schema, `${readFileSync(schemaPath, 'utf8')}\nmodel MigrationProbe {\n  id    String @id\n  label String\n}\n`);
    const written = await writeMigration({ migrationsDir: migrations, schemaPath: schema, name: 'probe', now: new Date('2100-01-01T00:00:00Z') });
    expect(written).toBe(join(migrations, '21000101000000_probe'));
    expect(readFileSync(join(written!, 'migration.sql'), 'utf8')).toMatch(/CREATE TABLE "MigrationProbe"/);
    expect(readFileSync(join(written!, SNAPSHOT), 'utf8')).toBe(readFileSync(schema, 'utf8'));
    expect(snapshotsIn(migrations)).toEqual(['21000101000000_probe']);
    expect(await migrationFolders(migrations)).toEqual([...before, '21000101000000_probe']);
  }, 180_000);

  it('refuse to diff when the last migration has no snapshot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codex-migrations-'));
    scratch.push(dir);
    cpSync(migrationsDir, dir, { recursive: true });
    const last = (await migrationFolders(dir)).at(-1)!;
    rmSync(join(dir, last, SNAPSHOT));
    await expect(latestSnapshot(dir)).rejects.toThrow(/is missing: cannot tell what the last migration produced/);
  });
});
