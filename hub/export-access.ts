/**
 * Who may export what. The service token and tokens with an analyst role
 * (HUB_ANALYST_ROLES, default `analyst`, `admin`) read every log whole. Any other
 * token reads what its socket would get: its sites' events, its own
 * notifications, the broadcasts; events restricted to other roles
 * (HUB_EVENT_ROLES) are left out. Asking for more is a 403 naming it.
 */
import { streamEvents } from '../protocol/log-selection.ts';
import type { SelectionOptions } from '../protocol/log-selection.ts';
import { type StreamKey, userToken } from '../protocol/subjects.ts';
import type { HubConfig } from './config.ts';
import type { EventPermissions } from './event-permissions.ts';
import { type Grant, grantsSite, hasAnyRole } from './grant.ts';
import type { ExportQuery } from './export-query.ts';

/** Who asks: the service (HUB_SERVICE_TOKEN), or a user's token. */
export type ExportCaller = { readonly service: true } | { readonly service: false; readonly grant: Grant };

/** A request beyond the caller's rights; the message says which part. */
export class ExportForbiddenError extends Error {
  override readonly name = 'ExportForbiddenError';
}

/** The selection the caller may read: the query's, narrowed to the caller's own where it named nothing. */
export function authorizeExport(caller: ExportCaller, stream: StreamKey, query: ExportQuery, config: HubConfig, permissions: EventPermissions): SelectionOptions {
  if (caller.service || hasAnyRole(caller.grant, config.analystRoles)) return { stream, sites: query.sites, users: query.users, events: query.events };
  const { grant } = caller;
  let sites = query.sites;
  let users = query.users;
  if (stream === 'site' && grant.sites !== '*') {
    const outside = sites?.find((s) => !grantsSite(grant, s));
    if (outside !== undefined) throw new ExportForbiddenError(`site ${outside} is not in your token`);
    if (sites === undefined) {
      if (grant.sites.size === 0) throw new ExportForbiddenError('your token grants no site');
      sites = [...grant.sites];
    }
  }
  if (stream === 'user') {
    const other = users?.find((u) => userToken(u) !== grant.userKey);
    if (other !== undefined) throw new ExportForbiddenError(`user ${JSON.stringify(other)} is not you: a token reads only its own notifications`);
    users = [String(grant.userId)];
  }
  let events = query.events;
  const denied = (e: string) => !permissions.allows(grant, e);
  const refused = events?.find(denied);
  if (refused !== undefined) throw new ExportForbiddenError(`${refused} is for other roles (HUB_EVENT_ROLES)`);
  if (events === undefined && streamEvents(stream).some(denied)) {
    events = streamEvents(stream).filter((e) => !denied(e));
    if (events.length === 0) throw new ExportForbiddenError(`no event of the ${stream} stream is for your roles (HUB_EVENT_ROLES)`);
  }
  return { stream, sites, users, events };
}
