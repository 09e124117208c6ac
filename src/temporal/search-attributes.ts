/**
 * What every resource workflow carries so operators can find it in Temporal (UI, `temporal
 * workflow list --query`): typed search attributes (account, team, agent type, tags, resource
 * id) and the same facts as its memo. The attributes must be registered on the namespace (the
 * embedded dev server registers them at start; a cluster's operator once, see docs/operations.md).
 */
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes, type SearchAttributePair } from '@temporalio/common';

export const searchAttributeKeys = {
  accountId: defineSearchAttributeKey('CodexAccountId', SearchAttributeType.KEYWORD),
  teamId: defineSearchAttributeKey('CodexTeamId', SearchAttributeType.KEYWORD),
  agentType: defineSearchAttributeKey('CodexAgentType', SearchAttributeType.KEYWORD),
  tags: defineSearchAttributeKey('CodexTags', SearchAttributeType.KEYWORD_LIST),
  resourceId: defineSearchAttributeKey('CodexResourceId', SearchAttributeType.KEYWORD),
};

/** The CLI's names of the types, for `--search-attribute Name=Type`. */
const CLI_TYPES: Record<string, string> = { [SearchAttributeType.KEYWORD]: 'Keyword', [SearchAttributeType.KEYWORD_LIST]: 'KeywordList' };

/** `temporal server start-dev` flags that register every attribute. */
export function devServerSearchAttributeFlags(): string[] {
  return Object.values(searchAttributeKeys).flatMap((key) => ['--search-attribute', `${key.name}=${CLI_TYPES[key.type]}`]);
}

/** Whose a workflow's resource is, and what it is. */
export interface WorkflowIndex {
  accountId: string;
  teamId: string | null;
  agentType?: string | null;
  tags?: readonly string[];
  resourceId: string;
}

/** The workflow's search attributes (absent facts left out). */
export function searchAttributesOf(index: WorkflowIndex): TypedSearchAttributes {
  const k = searchAttributeKeys;
  const pairs: SearchAttributePair[] = [
    { key: k.accountId, value: index.accountId },
    { key: k.resourceId, value: index.resourceId },
  ];
  if (index.teamId) pairs.push({ key: k.teamId, value: index.teamId });
  if (index.agentType) pairs.push({ key: k.agentType, value: index.agentType });
  if (index.tags?.length) pairs.push({ key: k.tags, value: [...index.tags] });
  return new TypedSearchAttributes(pairs);
}

/** The workflow's memo: the same facts, readable with `describe()` whether or not the attributes are registered. */
export function memoOf(index: WorkflowIndex): Record<string, unknown> {
  return { accountId: index.accountId, teamId: index.teamId, agentType: index.agentType ?? null, tags: [...(index.tags ?? [])], resourceId: index.resourceId };
}

/** Whether a start failed because the namespace does not know one of the attributes. */
export function isUnregisteredSearchAttribute(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (/search attribute/i.test(e.message) && /no mapping defined|not (defined|registered|found)|unknown|invalid/i.test(e.message)) return true;
  }
  return false;
}
