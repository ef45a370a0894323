import {
  IRouter,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  ISessionContextDialogs,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IStatusBar } from '@jupyterlab/statusbar';

import { AuthModel, IPromptTesterAuth } from './auth';
import {
  DEEP_LINK_PATTERN,
  PROOF_PARAM,
  RUN_ON_OPEN_PATTERN,
  RUN_PARAM,
  deepLinkKey,
  parseDeepLink,
  runOnOpenPath,
  withoutDeepLink,
  withoutParams
} from './deeplink';
import { errorMessage } from './handler';
import { PromptTesterStatus } from './status';
import { ERROR_TITLE, openTesterNotebook, runNotebookOnOpen } from './tester';

/** Command ids. */
export namespace CommandIDs {
  export const open = 'prompt-tester:open';
  export const signIn = 'prompt-tester:sign-in';
  export const signOut = 'prompt-tester:sign-out';
  /** Run by the router for a deep link; not in the palette. */
  export const openDeepLink = 'prompt-tester:open-deep-link';
  /** Run by the router for `/lab/tree/<notebook>?prompt-tester-run=1` (runs only with a proof). */
  export const runOnOpen = 'prompt-tester:run-on-open';
}

const CATEGORY = 'Prompt Tester';

/** How often the status item asks who is signed in. */
const REFRESH_INTERVAL_MS = 60_000;

/**
 * The sign-in state, and the Sign in / Sign out commands.
 */
const authPlugin: JupyterFrontEndPlugin<IPromptTesterAuth> = {
  id: 'prompt-tester-nb:auth',
  description:
    'The Prompt Tester sign-in state and the sign-in/sign-out commands.',
  autoStart: true,
  provides: IPromptTesterAuth,
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null
  ): IPromptTesterAuth => {
    const auth = new AuthModel();
    const { commands } = app;

    commands.addCommand(CommandIDs.signIn, {
      label: 'Prompt Tester: Sign in',
      caption:
        'Sign in to the Prompt Tester (this page opens again afterwards)',
      isEnabled: () => auth.state.status !== 'signed-in',
      execute: () => auth.signIn()
    });
    commands.addCommand(CommandIDs.signOut, {
      label: 'Prompt Tester: Sign out',
      caption: 'End the Prompt Tester session',
      isEnabled: () => auth.state.status !== 'signed-out',
      execute: async () => {
        try {
          await auth.signOut();
        } catch (error) {
          await showErrorMessage(ERROR_TITLE, errorMessage(error));
        }
      }
    });
    auth.changed.connect(() => {
      commands.notifyCommandChanged(CommandIDs.signIn);
      commands.notifyCommandChanged(CommandIDs.signOut);
    });

    if (palette) {
      palette.addItem({ command: CommandIDs.signIn, category: CATEGORY });
      palette.addItem({ command: CommandIDs.signOut, category: CATEGORY });
    }
    return auth;
  }
};

/**
 * The Open command and deep links: `/lab?context_id=…` opens a tester notebook
 * for that logged call and runs it.
 */
const openPlugin: JupyterFrontEndPlugin<void> = {
  id: 'prompt-tester-nb:open',
  description:
    'Opens Prompt Tester notebooks, from the palette or a deep link.',
  autoStart: true,
  requires: [IPromptTesterAuth, IDocumentManager, IRouter],
  optional: [ICommandPalette, ISessionContextDialogs],
  activate: (
    app: JupyterFrontEnd,
    auth: IPromptTesterAuth,
    docManager: IDocumentManager,
    router: IRouter,
    palette: ICommandPalette | null,
    sessionDialogs: ISessionContextDialogs | null
  ): void => {
    const opener = { app, auth, docManager, sessionDialogs };
    const { commands } = app;

    commands.addCommand(CommandIDs.open, {
      label: 'Prompt Tester: Open',
      caption: 'Open a new Prompt Tester notebook',
      execute: async () => {
        await openTesterNotebook(opener, {
          context_id: null,
          prompt_id: null,
          version: null
        });
      }
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: CATEGORY });
    }

    // Deep links handled (or being handled) in this page, by what they ask for: the
    // router routes the same link again on popstate (Back after the query was
    // stripped) and after `?reset` is taken off the URL (a different query, the same
    // link), which must send no second request nor create a second notebook.
    const handled = new Set<string>();

    const handleDeepLink = async (
      location: IRouter.ILocation
    ): Promise<void> => {
      const search = location.search ?? '';
      const request = parseDeepLink(search);
      const key = request ? deepLinkKey(request) : '';
      if (!request || handled.has(key)) {
        return;
      }
      handled.add(key);
      // Where the sign-in comes back to: this very deep link.
      const next = window.location.pathname + window.location.search;
      const outcome = await openTesterNotebook(opener, request, next);
      if (outcome.kind === 'signing-in') {
        return;
      }
      // Strip the deep link's parameters so a reload does not open it again, unless
      // JupyterLab already replaced the URL (it shows the opened notebook's path).
      const current = router.current;
      const currentSearch = current.search ?? '';
      if (parseDeepLink(currentSearch)) {
        router.navigate(
          withoutDeepLink(current.path, currentSearch, current.hash ?? ''),
          { skipRouting: true }
        );
      }
    };

    commands.addCommand(CommandIDs.openDeepLink, {
      label: 'Open a Prompt Tester deep link',
      execute: args => {
        // Not awaited: the router runs its rules one after another, and the
        // application's own rules (state, tree) must not wait for a kernel.
        void handleDeepLink(args as unknown as IRouter.ILocation);
      }
    });
    router.register({
      command: CommandIDs.openDeepLink,
      pattern: DEEP_LINK_PATTERN,
      rank: 60
    });

    // `/lab/tree/<notebook>?prompt-tester-run=1&prompt-tester-proof=…` (the URL
    // `prompt-tester demo` prints): open that notebook and, if the server accepts the
    // proof, run its cells, so the app shows without Run All. Without a proof the
    // notebook only opens, as any JupyterLab link does.
    const ran = new Set<string>();
    commands.addCommand(CommandIDs.runOnOpen, {
      label: 'Open and run a Prompt Tester notebook',
      execute: args => {
        const location = args as unknown as IRouter.ILocation;
        const asked = runOnOpenPath(location.path, location.search ?? '');
        if (!asked || ran.has(asked.path)) {
          return;
        }
        ran.add(asked.path);
        void runNotebookOnOpen(opener, asked.path, asked.proof).then(() => {
          const current = router.current;
          const search = current.search ?? '';
          if (
            runOnOpenPath(current.path, search) !== null ||
            search.includes(RUN_PARAM) ||
            search.includes(PROOF_PARAM)
          ) {
            router.navigate(
              withoutParams(current.path, search, current.hash ?? '', [
                RUN_PARAM,
                PROOF_PARAM
              ]),
              { skipRouting: true }
            );
          }
        });
      }
    });
    router.register({
      command: CommandIDs.runOnOpen,
      pattern: RUN_ON_OPEN_PATTERN,
      rank: 61
    });
  }
};

/**
 * The status bar item `#prompt-tester-status`, refreshed on start and every 60 s.
 */
const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'prompt-tester-nb:status',
  description: 'Shows who is signed in to the Prompt Tester in the status bar.',
  autoStart: true,
  requires: [IPromptTesterAuth],
  optional: [IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    auth: IPromptTesterAuth,
    statusBar: IStatusBar | null
  ): void => {
    let lastError: string | undefined;

    const onClick = async (): Promise<void> => {
      const state = auth.state;
      if (state.status !== 'signed-in') {
        auth.signIn();
        return;
      }
      const result = await showDialog({
        title: 'Prompt Tester',
        body: `Signed in as ${state.me.email}.`,
        buttons: [
          Dialog.cancelButton({ label: 'Close' }),
          Dialog.warnButton({
            label: 'Sign out',
            className: 'prompt-tester-sign-out-button'
          })
        ]
      });
      if (result.button.accept) {
        await app.commands.execute(CommandIDs.signOut);
      }
    };

    const item = new PromptTesterStatus(() => void onClick());
    const render = (): void => item.render(auth.state, lastError);
    auth.changed.connect(render);

    const refresh = async (): Promise<void> => {
      try {
        await auth.refresh();
        lastError = undefined;
      } catch (error) {
        lastError = errorMessage(error);
      }
      render();
    };

    if (statusBar) {
      statusBar.registerStatusItem('prompt-tester-nb:status', {
        item,
        align: 'left',
        rank: 100
      });
    }
    void refresh();
    const timer = window.setInterval(() => void refresh(), REFRESH_INTERVAL_MS);
    item.disposed.connect(() => window.clearInterval(timer));
  }
};

const plugins: JupyterFrontEndPlugin<any>[] = [
  authPlugin,
  openPlugin,
  statusPlugin
];

export default plugins;
