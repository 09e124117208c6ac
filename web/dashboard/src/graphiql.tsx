/**
 * The GraphQL explorer served at GET /graphql to browsers: GraphiQL from the installed packages
 * (no CDN, no telemetry), queries over HTTP POST and subscriptions over graphql-ws on the same path.
 */
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';
import { storedCredential } from './api';

const url = new URL('/graphql', window.location.href).toString();
const fetcher = createGraphiQLFetcher({ url, subscriptionUrl: url.replace(/^http/, 'ws') });
const credential = storedCredential();

const defaultQuery = `# Run a query with the play button (Ctrl+Enter). Put your API key or access token after "Bearer "
# in the Headers tab below. Subscriptions (e.g. taskEvents) stream over graphql-ws.
query Me {
  viewer { id name tier }
}
`;

createRoot(document.getElementById('graphiql')!).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={defaultQuery}
    initialHeaders={JSON.stringify({ Authorization: `Bearer ${credential ?? ''}` }, null, 2)}
    defaultEditorToolsVisibility="headers"
  />,
);
