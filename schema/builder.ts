// The Pothos builder: plugins and the context type. Types live in schema/types/.
import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import type { GraphQLContext } from '../src/context.js';
import { idKind, type IdKind } from '../src/ids.js';

const typenameByKind: Partial<Record<IdKind, string>> = { task: 'Task', user: 'User' };

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [RelayPlugin],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Our ids already carry their type (task_…, user_…): the REST id and Node.id are the same string.
    encodeGlobalID: (_typename, id) => String(id),
    decodeGlobalID: (globalID) => ({ typename: typenameByKind[idKind(globalID) ?? 'request'] ?? 'Unknown', id: globalID }),
  },
});
