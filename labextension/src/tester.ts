import { JupyterFrontEnd } from '@jupyterlab/application';
import { ISessionContextDialogs, showErrorMessage } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { IPromptTesterAuth } from './auth';
import {
  PromptTesterAPIError,
  errorMessage,
  jsonBody,
  requestAPI
} from './handler';
import type { TesterNotebookRequest, TesterNotebookResponse } from './types';

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
 * every cell.
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
      panel: await showAndRunAll(options, widget, created.path)
    };
  } catch (error) {
    await showErrorMessage(ERROR_TITLE, errorMessage(error));
    return { kind: 'failed', error };
  }
}

/**
 * Show a notebook that was opened, once its kernel is ready, and run every cell: what a
 * deep link and the demo's URL both do, so the app is showing without Run All.
 */
async function showAndRunAll(
  options: ITesterOpenerOptions,
  widget: unknown,
  path: string
): Promise<NotebookPanel> {
  if (!(widget instanceof NotebookPanel)) {
    throw new Error(`${path} did not open as a notebook.`);
  }
  await widget.context.ready;
  await widget.sessionContext.ready;
  options.app.shell.activateById(widget.id);
  await NotebookActions.runAll(
    widget.content,
    widget.sessionContext,
    options.sessionDialogs ?? undefined
  );
  return widget;
}

/**
 * Open the notebook at `path` (if the tree URL has not yet), wait for its kernel and
 * run every cell: the demo's URL lands on the app itself, not on a notebook to Run All.
 */
export async function runNotebookOnOpen(
  options: ITesterOpenerOptions,
  path: string
): Promise<void> {
  const { app, docManager } = options;
  try {
    await app.restored;
    const widget = docManager.findWidget(path) ?? docManager.openOrReveal(path);
    const panel = await showAndRunAll(options, widget, path);
    // The app is the last cell's output: bring it to the top of the view.
    const notebook = panel.content;
    const last = notebook.widgets.length - 1;
    if (last >= 0) {
      notebook.activeCellIndex = last;
      await notebook.scrollToCell(notebook.widgets[last], 'start');
      notebook.mode = 'command'; // a key pressed now must not type into the cell
    }
  } catch (error) {
    await showErrorMessage(ERROR_TITLE, errorMessage(error));
  }
}
