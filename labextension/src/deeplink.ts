import { URLExt } from '@jupyterlab/coreutils';

import type { TesterNotebookRequest } from './types';

/** Query parameters of a deep link: `/lab?context_id=…&prompt_id=…&version=…`. */
export const DEEP_LINK_PARAMS = ['context_id', 'prompt_id', 'version'] as const;

/**
 * Routes a deep link: a `/lab` URL (also `/lab/tree/…`, `/lab/workspaces/…`) whose
 * query carries `context_id`. Matched against the router's request (path, query
 * and hash, with the server's base URL removed).
 */
export const DEEP_LINK_PATTERN = /^\/lab(?:\/[^?#]*)?\?(?:[^#]*&)?context_id=/;

/** The tester notebook a deep link asks for, or `null` if it carries no `context_id`. */
export function parseDeepLink(search: string): TesterNotebookRequest | null {
  const query = URLExt.queryStringToObject(search);
  const contextId = query['context_id'];
  if (!contextId) {
    return null;
  }
  return {
    context_id: contextId,
    prompt_id: query['prompt_id'] || null,
    version: query['version'] || null
  };
}

/**
 * The URL without the deep link's parameters (other parameters and the hash kept),
 * for `router.navigate`.
 */
export function withoutDeepLink(
  path: string,
  search: string,
  hash: string
): string {
  const query = URLExt.queryStringToObject(search);
  for (const name of DEEP_LINK_PARAMS) {
    delete query[name];
  }
  return path + URLExt.objectToQueryString(query) + hash;
}
