/**
 * The SCIM resource types the gateway serves (User, Group) and its service provider configuration,
 * declared on SCIMMY, which validates bodies against RFC 7643's schemas, applies PATCH operations,
 * and shapes answers and list responses. SCIMMY holds them process-wide; each call passes the
 * team its token acts for as the handlers' context, and every handler is scoped to that team.
 */
import SCIMMY from 'scimmy';
import type { ServiceDeps } from '../services/deps.js';
import {
  createScimGroup,
  createScimUser,
  deleteScimGroup,
  deleteScimUser,
  getScimGroup,
  getScimUser,
  listScimGroups,
  listScimUsers,
  replaceScimGroup,
  replaceScimUser,
  type ScimEmail,
  type ScimGroupRow,
  type ScimUserRow,
} from '../services/scim/provisioning.js';
import { matchFilter, type FilterAttributes } from './filter.js';

/** What every handler receives: the services and the team of the presented token. */
export interface ScimContext {
  deps: Pick<ServiceDeps, 'db' | 'bus' | 'auth'>;
  teamId: string;
}

/** Most resources one list answer holds (ServiceProviderConfig filter.maxResults). */
export const SCIM_MAX_RESULTS = 200;

const USER_FILTERS: FilterAttributes = {
  id: { caseExact: true },
  username: { caseExact: false },
  externalid: { caseExact: true },
  displayname: { caseExact: false },
  active: { caseExact: true },
  'emails.value': { caseExact: false },
  'emails.type': { caseExact: false },
  'emails.primary': { caseExact: true },
  'name.givenname': { caseExact: false },
  'name.familyname': { caseExact: false },
  'meta.created': { caseExact: true },
  'meta.lastmodified': { caseExact: true },
};
const GROUP_FILTERS: FilterAttributes = {
  id: { caseExact: true },
  displayname: { caseExact: false },
  externalid: { caseExact: true },
  'members.value': { caseExact: true },
  'meta.created': { caseExact: true },
  'meta.lastmodified': { caseExact: true },
};

const present = <T>(v: T | null | undefined): T | undefined => v ?? undefined;

function userOut(u: ScimUserRow) {
  return {
    ...(u.attributes as Record<string, unknown>),
    id: u.id,
    userName: u.userName,
    externalId: present(u.externalId),
    displayName: present(u.displayName),
    emails: u.emails as unknown as ScimEmail[],
    active: u.active,
    groups: u.groups.map((g) => ({ value: g.group.id, display: g.group.displayName, $ref: `${String(SCIMMY.Resources.Group.basepath())}/${g.group.id}`, type: 'direct' })),
    meta: { created: u.createdAt, lastModified: u.updatedAt },
  };
}

function groupOut(g: ScimGroupRow) {
  return {
    id: g.id,
    displayName: g.displayName,
    externalId: present(g.externalId),
    members: g.members.map((m) => ({ value: m.scimUser.id, display: m.scimUser.userName, $ref: `${String(SCIMMY.Resources.User.basepath())}/${m.scimUser.id}`, type: 'User' })),
    meta: { created: g.createdAt, lastModified: g.updatedAt },
  };
}

interface UserIn {
  userName: string;
  externalId?: string;
  displayName?: string;
  name?: { givenName?: string; familyName?: string };
  emails?: ScimEmail[];
  active?: boolean;
  password?: string;
}

/** Attributes with columns of their own, or that the gateway sets; the rest of a resource is kept as sent. */
const USER_COLUMNS = new Set(['schemas', 'meta', 'id', 'userName', 'externalId', 'displayName', 'emails', 'active', 'password', 'groups']);

function userIn(instance: UserIn) {
  // JSON drops what SCIMMY never returns (the password) and undefined values.
  const sent = JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
  return {
    userName: instance.userName,
    externalId: instance.externalId,
    displayName: instance.displayName,
    givenName: instance.name?.givenName,
    familyName: instance.name?.familyName,
    emails: (sent.emails as ScimEmail[] | undefined) ?? [],
    active: instance.active ?? true,
    attributes: Object.fromEntries(Object.entries(sent).filter(([key]) => !USER_COLUMNS.has(key))),
    password: instance.password,
  };
}

function groupIn(instance: { displayName: string; externalId?: string; members?: { value: string }[] }) {
  return { displayName: instance.displayName, externalId: instance.externalId, memberIds: (instance.members ?? []).map((m) => m.value) };
}

function listed<T extends object>(resource: InstanceType<typeof SCIMMY.Types.Resource>, all: T[], attributes: FilterAttributes): T[] {
  return resource.filter ? matchFilter(resource.filter, all, attributes) : all;
}

interface AttributeDefinition {
  config: { canonicalValues?: unknown };
  subAttributes?: AttributeDefinition[];
}

/**
 * RFC 7643 lists no canonical values for roles.type and x509Certificates.type (an empty list);
 * SCIMMY reads that as "no value is allowed", so any role or certificate with a type is refused.
 * Canonical values are suggestions (RFC 7643 §2.3.1): an empty list constrains nothing here.
 */
function allowAnyValueWhereNoneListed(attributes: AttributeDefinition[]): void {
  for (const a of attributes) {
    if (Array.isArray(a.config.canonicalValues) && a.config.canonicalValues.length === 0) a.config.canonicalValues = false;
    if (a.subAttributes) allowAnyValueWhereNoneListed(a.subAttributes);
  }
}

let declared = false;

/** Declares the resource types and the configuration once per process; `baseUrl` is where /scim/v2 is served. */
export function declareScimResources(baseUrl: string): void {
  for (const r of [SCIMMY.Resources.User, SCIMMY.Resources.Group, SCIMMY.Resources.Schema, SCIMMY.Resources.ResourceType, SCIMMY.Resources.ServiceProviderConfig]) {
    r.basepath(baseUrl);
  }
  if (declared) return;
  declared = true;
  allowAnyValueWhereNoneListed(SCIMMY.Schemas.User.definition.attributes);
  SCIMMY.Config.set({
    documentationUri: undefined,
    patch: true,
    filter: { supported: true, maxResults: SCIM_MAX_RESULTS },
    sort: true,
    bulk: false,
    changePassword: false,
    etag: false,
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: "A team's SCIM token (cdx_scim_…), created by a team owner at POST /v1/teams/{team_id}/scim-tokens, sent as Authorization: Bearer.",
        primary: true,
      },
    ],
  } as never);
  SCIMMY.Resources.declare(SCIMMY.Resources.User)
    .egress(async (resource, ctx: ScimContext) => {
      if (resource.id) return userOut(await getScimUser(ctx.deps, ctx.teamId, resource.id));
      return listed(resource, (await listScimUsers(ctx.deps, ctx.teamId)).map(userOut), USER_FILTERS);
    })
    .ingress(async (resource, instance, ctx: ScimContext) => {
      const input = userIn(instance);
      const row = resource.id ? await replaceScimUser(ctx.deps, ctx.teamId, resource.id, input) : await createScimUser(ctx.deps, ctx.teamId, input);
      return userOut(row);
    })
    .degress((resource, ctx: ScimContext) => deleteScimUser(ctx.deps, ctx.teamId, resource.id!));
  SCIMMY.Resources.declare(SCIMMY.Resources.Group)
    .egress(async (resource, ctx: ScimContext) => {
      if (resource.id) return groupOut(await getScimGroup(ctx.deps, ctx.teamId, resource.id));
      return listed(resource, (await listScimGroups(ctx.deps, ctx.teamId)).map(groupOut), GROUP_FILTERS);
    })
    .ingress(async (resource, instance, ctx: ScimContext) => {
      const input = groupIn(instance);
      const row = resource.id ? await replaceScimGroup(ctx.deps, ctx.teamId, resource.id, input) : await createScimGroup(ctx.deps, ctx.teamId, input);
      return groupOut(row);
    })
    .degress((resource, ctx: ScimContext) => deleteScimGroup(ctx.deps, ctx.teamId, resource.id!));
}
