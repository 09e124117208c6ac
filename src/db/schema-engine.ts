/**
 * Prisma's schema engine compiled to WebAssembly, driven through a PostgreSQL driver adapter.
 * It applies and writes migrations exactly as `prisma migrate deploy|dev` do, without the
 * native engine binary (which cannot be downloaded on every machine).
 */
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import * as bg from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';

export const prismaDir = fileURLToPath(new URL('../../prisma/', import.meta.url));
export const migrationsDir = join(prismaDir, 'migrations');
export const schemaPath = join(prismaDir, 'schema.prisma');

let wasmReady: Promise<void> | undefined;

/** Instantiates the engine's wasm once per process (Node 20 cannot import .wasm without a flag). */
function loadWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const jsPath = createRequire(import.meta.url).resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const bytes = await readFile(jsPath.replace(/\.js$/, '.wasm'));
    // Node has WebAssembly; the DOM lib that types it is not in this project's tsconfig.
    const wasm = (globalThis as unknown as { WebAssembly: { instantiate(b: Buffer, i: object): Promise<{ instance: { exports: Record<string, unknown> } }> } }).WebAssembly;
    const { instance } = await wasm.instantiate(bytes, { './schema_engine_bg.js': bg });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return wasmReady;
}

/** Opens a schema engine over the given adapter factory, loaded with the project's schema. */
/**
 * @prisma/adapter-pg runs a migration script by splitting it on every ";", which breaks a
 * PL/pgSQL function body (and a ";" in a comment). PostgreSQL takes the whole script in one
 * simple query (and runs it in one implicit transaction), so the adapters given to the engine
 * send it whole.
 */
function wholeScripts(factory: SqlMigrationAwareDriverAdapterFactory): SqlMigrationAwareDriverAdapterFactory {
  type Adapter = Awaited<ReturnType<SqlMigrationAwareDriverAdapterFactory['connect']>>;
  const patch = <A extends Adapter>(adapter: A): A => {
    const client = (adapter as unknown as { client?: { query(sql: string): Promise<unknown> } }).client;
    if (client) adapter.executeScript = async (script: string) => void (await client.query(script));
    return adapter;
  };
  return Object.assign(Object.create(factory) as SqlMigrationAwareDriverAdapterFactory, {
    connect: async () => patch(await factory.connect()),
    connectToShadowDb: async () => patch(await factory.connectToShadowDb()),
  });
}

export async function openSchemaEngine(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  onLog: (line: string) => void = () => {},
): Promise<SchemaEngine> {
  await loadWasm();
  const datamodel = await readFile(schemaPath, 'utf8');
  const { SchemaEngine: Engine } = bg as unknown as { SchemaEngine: typeof SchemaEngine };
  return Engine.new(
    { datamodels: [['schema.prisma', datamodel]] },
    (log: string) => onLog(log),
    bindMigrationAwareSqlAdapterFactory(wholeScripts(adapterFactory)),
  );
}

/** The migrations folder in the shape the engine takes (Prisma's standard layout). */
export async function readMigrationsList() {
  const lockPath = join(migrationsDir, 'migration_lock.toml');
  const lockContent = await readFile(lockPath, 'utf8').catch(() => 'provider = "postgresql"\n');
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const migrationDirectories = await Promise.all(
    dirs.map(async (dir) => ({
      path: dir,
      migrationFile: {
        path: 'migration.sql',
        content: { tag: 'ok' as const, value: await readFile(join(migrationsDir, dir, 'migration.sql'), 'utf8') },
      },
    })),
  );
  return {
    baseDir: migrationsDir,
    lockfile: { path: 'migration_lock.toml', content: lockContent },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}

export const noFilters = { externalTables: [] as string[], externalEnums: [] as string[] };
