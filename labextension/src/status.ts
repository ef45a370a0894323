import { Widget } from '@lumino/widgets';

import type { AuthState } from './types';

/** Stable DOM id of the status bar item, for browser tests. */
export const STATUS_ITEM_ID = 'prompt-tester-status';

/** The text the status item shows for a state. */
export function statusText(state: AuthState, unavailable = false): string {
  if (unavailable) {
    return 'Prompt Tester: unavailable';
  }
  switch (state.status) {
    case 'signed-in':
      return `Prompt Tester: ${state.me.email}`;
    case 'signed-out':
      // One identity, shown the way the app's banner shows it ("signed in as …"): the
      // one the notebooks use. That this browser has no session of its own (deep links
      // ask to sign in) is said by the hover text and `data-state`, not a second name.
      return state.kernel?.email
        ? `Prompt Tester: ${state.kernel.email}`
        : 'Prompt Tester: sign in';
    default:
      return 'Prompt Tester: …';
  }
}

/** The hover text while signed out: what the kernels will use instead. */
export function signedOutTitle(state: AuthState): string {
  const kernel = state.status === 'signed-out' ? state.kernel : undefined;
  if (!kernel?.email) {
    return 'Click to sign in to the Prompt Tester.';
  }
  const from =
    kernel.source === 'environment'
      ? "from PROMPT_TESTER_EMAIL and PROMPT_TESTER_PASSWORD in the server's environment"
      : 'with the last sign-in in JupyterLab';
  return (
    `Notebooks (pt.connect()) sign in as ${kernel.email} ${from}.` +
    ' This browser has no sign-in of its own (deep links ask for one). Click to sign in here.'
  );
}

/**
 * The status bar item: `Prompt Tester: <email>` (whoever the app runs as) or
 * `Prompt Tester: sign in` when nobody is.
 *
 * `data-state` carries `unknown`, `signed-in`, `signed-out` or `unavailable`.
 */
export class PromptTesterStatus extends Widget {
  constructor(private readonly _onClick: () => void) {
    super({ node: document.createElement('div') });
    this.id = STATUS_ITEM_ID;
    this.addClass('prompt-tester-status');
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('keydown', this._onKey);
    this.render({ status: 'unknown' });
  }

  /** Show a state; `error` (when a refresh failed) wins over it. */
  render(state: AuthState, error?: string): void {
    const unavailable = error !== undefined;
    this.node.textContent = statusText(state, unavailable);
    this.node.dataset.state = unavailable ? 'unavailable' : state.status;
    this.node.title = unavailable
      ? `The Prompt Tester server extension did not answer: ${error}`
      : state.status === 'signed-in'
        ? `Signed in as ${state.me.email}. Click to sign out.`
        : signedOutTitle(state);
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.node.removeEventListener('click', this._onClick);
    this.node.removeEventListener('keydown', this._onKey);
    super.dispose();
  }

  private readonly _onKey = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this._onClick();
    }
  };
}
