// `npm run schema:print`: writes schema/schema.graphql from the code (a test fails when it drifts).
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from './index.js';

writeFileSync(new URL('./schema.graphql', import.meta.url), `${printSchema(schema)}\n`);
console.log('wrote schema/schema.graphql');
