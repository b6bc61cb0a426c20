/** What a hook test page exposes on `window` for the test to drive. */
export interface HookAppProps {
  readonly url: string;
  readonly token: string;
  readonly siteId: number;
}

export interface HookApp {
  mount(props: HookAppProps): void;
  unmount(): void;
}

declare global {
  interface Window {
    hookApp?: HookApp;
  }
}
