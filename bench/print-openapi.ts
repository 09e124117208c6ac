/** Prints /v1/openapi.json as the gateway serves it (built from the route table), for SDK generators. */
import { buildOpenApi } from '../src/rest/openapi.js';
import { restRoutes } from '../src/rest/v1/index.js';

process.stdout.write(JSON.stringify(buildOpenApi(restRoutes, process.argv[2] ?? 'http://localhost:4000', 'local'), null, 2));
