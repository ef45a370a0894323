import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  ISessionContextDialogs,
  Notification,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { IPromptTesterAuth } from './auth';
import {
  PromptTesterAPIError,
  errorMessage,
  jsonBody,
  requestAPI
} from './handler';
import type {
  RunProofRequest,
  TesterNotebookRequest,
  TesterNotebookResponse
} from './types';

/** What opening a tester notebook needs. */
export interface ITesterOpenerOptions {
  app: JupyterFrontEnd;
  docManager: IDocumentManager;
  auth: IPromptTesterAuth;
  sessionDialogs?: ISessionContextDialogs | null;
}

/** How an attempt to open a tester notebook ended. */
export type OpenOutcome =
  /** The notebook is open (and its cells were run). */
  | { kind: 'opened'; panel: NotebookPanel }
  /** The user was not signed in: the page is leaving for the sign-in. */
  | { kind: 'signing-in' }
  /** The user was not signed in and declined to sign in. */
  | { kind: 'cancelled' }
  /** Something failed; the user was shown the error. */
  | { kind: 'failed'; error: unknown };

export const ERROR_TITLE = 'Prompt Tester';

/**
 * Ask the server for a new tester notebook, open it, wait for its kernel and run
 * every cell, if the server confirms the notebook's code is what it wrote for this user
 * (the one-time proof it answered with).
 *
 * @param request - which logged call (and prompt version) the notebook tests.
 * @param next - where the sign-in should come back to if the user is signed out.
 */
export async function openTesterNotebook(
  options: ITesterOpenerOptions,
  request: TesterNotebookRequest,
  next?: string
): Promise<OpenOutcome> {
  const { app, auth, docManager } = options;
  const signIn = async (): Promise<OpenOutcome> =>
    (await auth.promptSignIn(next))
      ? { kind: 'signing-in' }
      : { kind: 'cancelled' };

  try {
    const state = await auth.refresh();
    if (state.status !== 'signed-in') {
      return await signIn();
    }

    let created: TesterNotebookResponse;
    try {
      created = await requestAPI<TesterNotebookResponse>(
        'api/tester-notebook',
        jsonBody('POST', request)
      );
    } catch (error) {
      if (error instanceof PromptTesterAPIError && error.isUnauthorized) {
        // The session ended between the two calls.
        await auth.refresh().catch(() => undefined);
        return await signIn();
      }
      throw error;
    }

    await app.restored;
    const widget = docManager.openOrReveal(created.path);
    if (!widget) {
      throw new Error(`Could not open ${created.path}.`);
    }
    return {
      kind: 'opened',
      panel: await showAndRunAll(
        options,
        widget,
        created.path,
        created.run_proof
      )
    };
  } catch (error) {
    if (error instanceof RunRefusedError) {
      notRun(error.path, error.message);
    } else {
      await showErrorMessage(ERROR_TITLE, errorMessage(error));
    }
    return { kind: 'failed', error };
  }
}

/** The server refused to let this notebook run: nothing ran. */
class RunRefusedError extends Error {
  constructor(
    readonly path: string,
    message: string
  ) {
    super(message);
    this.name = 'RunRefusedError';
  }
}

/**
 * Say, without a dialog to click through, that a notebook opened from a link was not run
 * and why. The text is set as text (never HTML): a file name may hold markup.
 */
function notRun(path: string, why: string): void {
  const name = path.split('/').pop() ?? path;
  const reason = why.replace(/^Not run: /, '');
  Notification.warning(`Opened ${name} without running it: ${reason}.`, {
    autoClose: false
  });
}

/** The notebook's code cells as they are about to run, in order. */
function codeSources(panel: NotebookPanel): string[] {
  const code: string[] = [];
  const cells = panel.content.model?.cells;
  if (!cells) {
    return code;
  }
  for (const cell of cells) {
    if (cell.type === 'code') {
      code.push(cell.sharedModel.getSource());
    }
  }
  return code;
}

/**
 * Ask the server whether `proof` lets this page run the notebook at `path` as it is now.
 * A one-time proof is used up by asking, whatever the answer.
 *
 * @throws RunRefusedError when the server says no (403), with its reason.
 */
async function checkRunProof(
  panel: NotebookPanel,
  path: string,
  proof: string
): Promise<void> {
  const body: RunProofRequest = { path, proof, code: codeSources(panel) };
  try {
    await requestAPI<void>('api/run-proof', jsonBody('POST', body));
  } catch (error) {
    if (error instanceof PromptTesterAPIError && error.status === 403) {
      throw new RunRefusedError(path, error.message);
    }
    throw error;
  }
}

/**
 * Show a notebook that was opened and, once its kernel is ready and the server has
 * accepted `proof` for its code, run every cell: what a deep link and the demo's URL both
 * do, so the app is showing without Run All. Without the server's yes nothing runs.
 */
async function showAndRunAll(
  options: ITesterOpenerOptions,
  widget: unknown,
  path: string,
  proof: string
): Promise<NotebookPanel> {
  if (!(widget instanceof NotebookPanel)) {
    throw new Error(`${path} did not open as a notebook.`);
  }
  await widget.context.ready;
  await widget.sessionContext.ready;
  options.app.shell.activateById(widget.id);
  await checkRunProof(widget, path, proof);
  await NotebookActions.runAll(
    widget.content,
    widget.sessionContext,
    options.sessionDialogs ?? undefined
  );
  // The outputs of a run the product started are not the user's edits: the notebook stays
  // marked unchanged, so closing it asks nothing (a later edit marks it as usual).
  if (widget.context.model) {
    widget.context.model.dirty = false;
  }
  return widget;
}

/**
 * Open the notebook at `path` (if the tree URL has not yet) and, if the URL carries a
 * proof the server accepts for it, wait for its kernel and run every cell: the demo's URL
 * lands on the app itself, not on a notebook to Run All. Any other link only opens the
 * notebook, as JupyterLab does, and says it did not run it.
 */
export async function runNotebookOnOpen(
  options: ITesterOpenerOptions,
  path: string,
  proof: string | null
): Promise<void> {
  const { app, docManager } = options;
  try {
    await app.restored;
    const widget = docManager.findWidget(path) ?? docManager.openOrReveal(path);
    if (proof === null) {
      notRun(path, 'the link carries no proof that the Prompt Tester made it');
      return;
    }
    const panel = await showAndRunAll(options, widget, path, proof);
    // The app is the last cell's output: bring it to the top of the view.
    const notebook = panel.content;
    const last = notebook.widgets.length - 1;
    if (last >= 0) {
      notebook.activeCellIndex = last;
      await notebook.scrollToCell(notebook.widgets[last], 'start');
      notebook.mode = 'command'; // a key pressed now must not type into the cell
    }
  } catch (error) {
    if (error instanceof RunRefusedError) {
      notRun(path, error.message);
    } else {
      await showErrorMessage(ERROR_TITLE, errorMessage(error));
    }
  }
}
