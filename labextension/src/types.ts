/**
 * JSON shapes of the Prompt Tester server extension (`/prompt-tester/...`).
 *
 * They mirror the server's models field for field (snake_case kept as sent).
 */

/** `GET prompt-tester/auth/me`, 200: the signed-in user. */
export interface Me {
  /** The user's e-mail address, as the user pool knows it. */
  email: string;
  /** The user pool's subject id of the user. */
  sub: string;
  /** When the sign-in session ends, in seconds since the epoch. */
  expires_at: number;
}

/**
 * `GET prompt-tester/auth/me?optional=1`, 200 either way: the sign-in state the status
 * bar polls. Signed in: `Me`'s fields; signed out: whom the kernels use instead.
 */
export interface SignInState {
  signed_in: boolean;
  email?: string | null;
  sub?: string | null;
  expires_at?: number | null;
  kernel?: KernelSignIn | null;
}

/** Body of every error response (400, 401, 403, 404, 409, 502). */
export interface ErrorBody {
  message: string;
}

/** `POST prompt-tester/api/tester-notebook` request body. */
export interface TesterNotebookRequest {
  /** The logged call to open; `null` for a blank tester notebook. */
  context_id: string | null;
  /** The prompt to test; `null` means the logged call's prompt. */
  prompt_id: string | null;
  /** The prompt version; `null` means the logged call's (or the latest) version. */
  version: string | null;
}

/** `POST prompt-tester/api/tester-notebook`, 200: the notebook written. */
export interface TesterNotebookResponse {
  /** Path of the new notebook relative to the Jupyter root, `prompt-tester/<name>.ipynb`. */
  path: string;
  /** The environment the notebook opens. */
  env_id: string;
  /** Single-use proof that this Jupyter user may run the notebook's code as written. */
  run_proof: string;
}

/** `POST prompt-tester/api/run-proof` request body: 204 lets the page run it, 403 not. */
export interface RunProofRequest {
  /** The notebook, relative to the Jupyter root. */
  path: string;
  /** A one-time proof (from tester-notebook) or a launch proof (from the URL). */
  proof: string;
  /** The code cells about to run, in order. */
  code: string[];
}

/**
 * `GET prompt-tester/auth/kernel`: whom the kernels sign in as when a notebook calls
 * `pt.connect()` with no arguments, and from what (`null`: nobody).
 */
export interface KernelSignIn {
  email: string | null;
  /** `jupyterlab`: the last sign-in here; `environment`: PROMPT_TESTER_EMAIL. */
  source: 'jupyterlab' | 'environment' | null;
}

/** What the front end knows about the sign-in: `unknown` until the first answer. */
export type AuthState =
  | { status: 'unknown' }
  | { status: 'signed-out'; kernel?: KernelSignIn }
  | { status: 'signed-in'; me: Me };
