import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Token } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { loginUrl, requestAPI } from './handler';
import type { AuthState, KernelSignIn, Me, SignInState } from './types';

/** The sign-in state shared by the commands, the deep link and the status item. */
export interface IPromptTesterAuth {
  /** The last known state. */
  readonly state: AuthState;
  /** Emitted whenever `state` changes. */
  readonly changed: ISignal<IPromptTesterAuth, AuthState>;
  /** Ask the server who is signed in (a 200 either way: no 401 noise). */
  refresh(): Promise<AuthState>;
  /** Leave the page for the sign-in, coming back to `next` (default: this page). */
  signIn(next?: string): void;
  /** End the server session, then refresh. */
  signOut(): Promise<void>;
  /**
   * Ask the user to sign in (a dialog with a Sign-in button).
   *
   * @returns whether the page is navigating to the sign-in.
   */
  promptSignIn(next?: string): Promise<boolean>;
}

export const IPromptTesterAuth = new Token<IPromptTesterAuth>(
  'prompt-tester-nb:IPromptTesterAuth',
  'The Prompt Tester sign-in state.'
);

/** Stable DOM class of the sign-in dialog, for browser tests. */
export const SIGN_IN_DIALOG_CLASS = 'prompt-tester-sign-in-dialog';
/** Stable DOM class of the dialog's Sign-in button. */
export const SIGN_IN_BUTTON_CLASS = 'prompt-tester-sign-in-button';

/** The default `IPromptTesterAuth`: state from `GET auth/me`. */
export class AuthModel implements IPromptTesterAuth {
  /**
   * @param navigate - how the page leaves for a URL (tests replace it).
   */
  constructor(
    private readonly _navigate: (url: string) => void = url =>
      window.location.assign(url)
  ) {}

  get state(): AuthState {
    return this._state;
  }

  get changed(): ISignal<IPromptTesterAuth, AuthState> {
    return this._changed;
  }

  async refresh(): Promise<AuthState> {
    // `optional=1`: signed out is a normal state, answered 200 with whom the kernels
    // use instead, so polling it leaves no 401 in the server log or the console.
    const answer = await requestAPI<SignInState>('auth/me?optional=1');
    let next: AuthState;
    if (answer.signed_in && answer.email && answer.sub) {
      const me: Me = {
        email: answer.email,
        sub: answer.sub,
        expires_at: answer.expires_at ?? 0
      };
      next = { status: 'signed-in', me };
    } else {
      const kernel: KernelSignIn | undefined = answer.kernel ?? undefined;
      next = kernel
        ? { status: 'signed-out', kernel }
        : { status: 'signed-out' };
    }
    this._set(next);
    return next;
  }

  signIn(next?: string): void {
    this._navigate(loginUrl(next));
  }

  async signOut(): Promise<void> {
    try {
      await requestAPI<void>('auth/logout', { method: 'POST' });
    } finally {
      await this.refresh().catch(() => this._set({ status: 'unknown' }));
    }
  }

  async promptSignIn(next?: string): Promise<boolean> {
    const body = new Widget();
    body.addClass(SIGN_IN_DIALOG_CLASS);
    body.node.textContent =
      'You are not signed in. Sign in and this page opens again where you left it.';
    const result = await showDialog({
      title: 'Sign in to open the Prompt Tester',
      body,
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: 'Sign in', className: SIGN_IN_BUTTON_CLASS })
      ]
    });
    if (result.button.accept) {
      this.signIn(next);
      return true;
    }
    return false;
  }

  private _set(state: AuthState): void {
    const before = JSON.stringify(this._state);
    this._state = state;
    if (JSON.stringify(state) !== before) {
      this._changed.emit(state);
    }
  }

  private _state: AuthState = { status: 'unknown' };
  private readonly _changed = new Signal<IPromptTesterAuth, AuthState>(this);
}
