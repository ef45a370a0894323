import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { ErrorBody } from './types';

/** URL namespace of the server extension. */
export const API_NAMESPACE = 'prompt-tester';

/** A non-2xx answer of the server extension, with its status and `message`. */
export class PromptTesterAPIError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'PromptTesterAPIError';
  }

  /** The server said the user is not signed in. */
  get isUnauthorized(): boolean {
    return this.status === 401;
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}

/**
 * Call the server extension: every REST call goes through here.
 *
 * @param endPoint - path under `prompt-tester/`, e.g. `auth/me`.
 * @param init - fetch options (method, body, ...).
 * @returns the parsed JSON body, or `undefined` for an empty body (204).
 * @throws PromptTesterAPIError for a non-2xx answer, with the server's `message`.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  const text = await response.text();
  let data: unknown = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }

  if (!response.ok) {
    const message = isErrorBody(data)
      ? data.message
      : text || response.statusText || `HTTP ${response.status}`;
    throw new PromptTesterAPIError(response.status, message);
  }
  return data as T;
}

/** JSON body options for `requestAPI`. */
export function jsonBody(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

/**
 * The sign-in URL that brings the browser back to `next` afterwards.
 *
 * @param next - a URL path inside this server (with its query), e.g.
 *   `/lab/tree/x?context_id=...`; defaults to the current page.
 */
export function loginUrl(
  next: string = window.location.pathname + window.location.search,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return (
    URLExt.join(settings.baseUrl, API_NAMESPACE, 'auth', 'login') +
    URLExt.objectToQueryString({ next })
  );
}

/** A readable message for anything thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
