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

/** What a deep link asks for, as one string: two URLs asking the same are one link. */
export function deepLinkKey(request: TesterNotebookRequest): string {
  return JSON.stringify([
    request.context_id,
    request.prompt_id,
    request.version
  ]);
}

/**
 * The URL without the given query parameters (other parameters and the hash kept),
 * for `router.navigate`.
 */
export function withoutParams(
  path: string,
  search: string,
  hash: string,
  names: readonly string[]
): string {
  const query = URLExt.queryStringToObject(search);
  for (const name of names) {
    delete query[name];
  }
  return path + URLExt.objectToQueryString(query) + hash;
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
  return withoutParams(path, search, hash, DEEP_LINK_PARAMS);
}

/** The query parameter that asks to run the opened notebook's cells. */
export const RUN_PARAM = 'prompt-tester-run';

/**
 * The query parameter with the proof that the server allows the run (the launcher's proof
 * for that notebook, see prompt_tester_nb/server/run_proof.py). Without it nothing runs.
 */
export const PROOF_PARAM = 'prompt-tester-proof';

/** `/lab/tree/<path>.ipynb?…prompt-tester-run=1…` (also under `/lab/workspaces/<w>`). */
export const RUN_ON_OPEN_PATTERN =
  /^\/lab(?:\/workspaces\/[^/?#]+)?\/tree\/[^?#]+\.ipynb\?(?:[^#]*&)?prompt-tester-run=1(?:[&#]|$)/;

/** What a `/lab/tree/<path>?prompt-tester-run=1` URL asks to run, and with what proof. */
export interface IRunOnOpen {
  /** The notebook, relative to the server root. */
  path: string;
  /** The URL's proof, or `null`: then the notebook opens and nothing runs. */
  proof: string | null;
}

/**
 * The notebook (a path relative to the server root) that `/lab/tree/<path>` asks to
 * open and run, with the URL's proof, or `null` when the URL does not ask for it.
 */
export function runOnOpenPath(path: string, search: string): IRunOnOpen | null {
  const query = URLExt.queryStringToObject(search);
  if (query[RUN_PARAM] !== '1') {
    return null;
  }
  const match = path.match(/\/tree\/(.+\.ipynb)$/);
  if (!match) {
    return null;
  }
  try {
    return {
      path: decodeURIComponent(match[1]),
      proof: query[PROOF_PARAM] || null
    };
  } catch {
    return null;
  }
}
